"""A process-local cache of loaded students, keyed by path (models never enter graph state)."""

from __future__ import annotations

from pathlib import Path

from evokd.student import Student
from evokd.student.hardware import Hardware
from evokd.tasks.spec import TaskSpec

_CACHE: dict[str, Student] = {}
_LIMIT = 2


def cached_student(spec: TaskSpec, path: str, hardware: Hardware) -> Student:
    """The student saved at ``path``, loaded once per process (on ``hardware``). Do not
    train it in place."""
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
