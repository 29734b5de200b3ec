"""Where the loop's students come from: ``Students`` trains, saves and loads them for the nodes
(the run context holds one). ``HFStudents`` is the real one (Hugging Face models, torch); the
dry run puts a stand-in there. Loaded students sit in a process-local cache keyed by path
(models never enter graph state)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from evokd.student.hardware import Hardware
from evokd.student.probe import Probe
from evokd.tasks.spec import TaskSpec

if TYPE_CHECKING:
    from evokd.graph.config import RunConfig
    from evokd.student import Student

StepCallback = Callable[[int, int, float], None]


class TrainedStudent(Protocol):
    """What the nodes ask of a trained student."""

    last_truncated: int  # examples cut at the max length by the last predict()

    def predict(self, examples: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Tag lists (NER) or label names (classification), one per example."""
        ...

    def evaluate(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Scores on ``examples`` (``f1``, ``per_label``, ``truncated``; ``accuracy`` for
        classification)."""
        ...

    def probe(self, examples: Sequence[Mapping[str, Any]]) -> Probe:
        """Confidence, prediction and embedding of each unlabelled example (``--pool``)."""
        ...


class Students(Protocol):
    """Trains students into folders and hands out the student saved in a folder."""

    def train(self, spec: TaskSpec, config: RunConfig, hardware: Hardware, base: str | None,
              examples: Sequence[Mapping[str, Any]], path: Path, *, steps: int, seed: int,
              on_step: StepCallback | None = None) -> int:
        """Train a copy of the student at ``base`` (a fresh one from ``config.student`` when
        None) on ``examples`` for at least ``steps`` steps, save it at ``path``; returns how
        many training texts were cut at the max length."""
        ...

    def cached(self, spec: TaskSpec, path: str, hardware: Hardware) -> TrainedStudent:
        """The student saved at ``path`` (loaded once; do not train it in place)."""
        ...


_CACHE: dict[str, Any] = {}
_LIMIT = 2


def cached_student(spec: TaskSpec, path: str, hardware: Hardware) -> Student:
    """The student saved at ``path``, loaded once per process (on ``hardware``). Do not
    train it in place."""
    from evokd.student import Student

    key = str(Path(path).resolve())
    if key not in _CACHE:
        if len(_CACHE) >= _LIMIT:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = Student.load(spec, Path(path), hardware)
    return _CACHE[key]


def remember(path: str, student: Student) -> None:
    """Put a just-saved student into the cache."""
    key = str(Path(path).resolve())
    if len(_CACHE) >= _LIMIT and key not in _CACHE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = student


class HFStudents:
    """Real students: Hugging Face token or sequence classifiers trained with torch (loaded
    only when a student is first trained or read)."""

    def train(self, spec: TaskSpec, config: RunConfig, hardware: Hardware, base: str | None,
              examples: Sequence[Mapping[str, Any]], path: Path, *, steps: int, seed: int,
              on_step: StepCallback | None = None) -> int:
        """See :meth:`Students.train`."""
        from evokd.student import Student, TrainSettings

        student = (Student.load(spec, Path(base), hardware) if base
                   else Student.create(spec, config.student, config.seed, hardware))
        settings = TrainSettings(min_steps=steps, batch_size=config.batch_size,
                                 learning_rate=config.learning_rate, seed=seed)
        stats = student.train(examples, settings, on_step)
        student.save(path)
        remember(str(path), student)
        return int(stats["truncated"])

    def cached(self, spec: TaskSpec, path: str, hardware: Hardware) -> TrainedStudent:
        """See :meth:`Students.cached`."""
        return cached_student(spec, path, hardware)
