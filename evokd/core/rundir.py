"""The run directory, written by the loop and read back by ``trace``, ``view`` and ``report``:
every path in it, config.json, and trace.jsonl's events (``core.trace``) in and out.

    config.json  checkpoints.sqlite  trace.jsonl  graph.mmd  synthetic.jsonl  metrics.jsonl
    student/  report.html  [summary.json  compare.html  seed-N/  with --seeds]  work/  .lock

The folder is created 0700 and the files written here 0600: they hold the task's texts and the
LLM's replies. One process at a time works in it (``RunDir.lock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from evokd.core import trace
from evokd.core.errors import UserError
from evokd.core.trace import TraceEvent

JsonDict = dict[str, Any]
SCRATCH_DIRS = ("student", "work", "student.new", "student.old")  # no run outputs to show


class RunDir:
    """Paths, writers and readers of one run's directory. JSONL files other than the trace are
    rewritten whole from graph state (atomically), so a resumed run never duplicates rows."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._trace_checked = False

    config = property(lambda self: self.path / "config.json")
    checkpoints = property(lambda self: self.path / "checkpoints.sqlite")
    trace = property(lambda self: self.path / "trace.jsonl")
    graph = property(lambda self: self.path / "graph.mmd")
    synthetic = property(lambda self: self.path / "synthetic.jsonl")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    student = property(lambda self: self.path / "student")
    report = property(lambda self: self.path / "report.html")
    compare = property(lambda self: self.path / "compare.html")  # every seed on one report
    summary = property(lambda self: self.path / "summary.json")  # mean ± std over seeds

    def seed(self, seed: int) -> RunDir:
        """The run directory of one seed of a ``--seeds`` run."""
        return RunDir(self.path / f"seed-{seed}")

    lock_file = property(lambda self: self.path / ".lock")

    def create(self) -> None:
        """Create the folder (0700: its files hold texts) if it is not there yet."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's exclusive lock (``flock`` on ``.lock``, which holds the PID); a
        second process gets a UserError naming the holder. The kernel drops the lock when its
        process ends, however it ends, so a killed run leaves nothing that blocks."""
        self.create()
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                raise UserError(
                    f"{self.path} is in use by another evokd process (PID {holder}); wait for "
                    "it to end (or stop it), or give another --run-dir") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # releases the lock

    def holds_run(self) -> bool:
        """Whether a run has started here (it has a checkpoint database)."""
        return self.checkpoints.exists()

    def refuse_existing_run(self) -> None:
        """Raise a UserError when the folder already holds a run (a new run must not mix in)."""
        if self.holds_run():
            raise UserError(
                f"{self.path} already holds a run; continue it with --resume {self.path} "
                "or choose another --run-dir"
            )

    work_dir = property(lambda self: self.path / "work")
    synthetic_conll = property(lambda self: self.path / "synthetic.conll")  # NER tasks only

    def work(self, name: str) -> Path:
        """A scratch folder for intermediate students (e.g. ``round-2``)."""
        return self.work_dir / name

    def stored(self, path: Path) -> str:
        """How the graph state names ``path`` (a student under this run): relative to the run
        folder, so a copied or moved run finds its own students, never the original's."""
        return path.relative_to(self.path).as_posix()

    def at(self, stored: str) -> Path:
        """The path the state names as ``stored``, in this run folder. Checkpoints written
        before paths were stored relative hold absolute paths; their ``work/...`` tail is read
        in this folder, so a copy never reads or writes the folder it was copied from."""
        path = Path(stored)
        if not path.is_absolute():
            return self.path / path
        parts = path.parts
        if "work" in parts:
            return self.path.joinpath(*parts[len(parts) - 1 - parts[::-1].index("work"):])
        return path

    def prune_work(self, keep: Path | str) -> list[Path]:
        """Remove the round students under ``work/`` other than ``keep`` (the best so far,
        which ``--resume`` needs); returns what was removed. Called when a round starts
        training, after the checkpoint that made ``keep`` the best student, so a resumed run
        never looks for a removed folder."""
        kept = Path(keep).resolve()
        removed = [path for path in sorted(self.work_dir.glob("round-*"))
                   if path.is_dir() and path.resolve() != kept]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def remove_work(self) -> None:
        """Remove ``work/`` (a finished run: the delivered student is in ``student/``)."""
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def write_text(self, path: Path, text: str) -> None:
        """Write ``text`` atomically (temp file + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with _naming(path), open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                                 "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def write_jsonl(self, path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rewrite a JSONL file from ``rows`` atomically."""
        self.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    # config.json

    def write_config(self, values: Mapping[str, Any]) -> None:
        """Write config.json (sorted keys; never a secret: callers pass none)."""
        self.write_text(self.config, config_text(values))

    def read_config(self) -> JsonDict:
        """config.json's settings; UserError when there is none or it is not a JSON object."""
        try:
            text = self.config.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"{self.path} is not a run directory (no config.json); --resume "
                            "takes the --run-dir of an earlier run") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {self.config}: {exc}") from None
        value, problem = _decode(text)
        if problem:
            raise UserError(f"{self.config}: unreadable run config ({problem}); this run cannot "
                            "be resumed, start a new one with another --run-dir")
        return cast(JsonDict, value)

    def record_info(self, key: str, info: Mapping[str, Any]) -> None:
        """Add a description (the teacher's, never its key; the student's hardware) to
        config.json under ``key``."""
        self.write_config({**self.read_config(), key: dict(info)})

    # trace.jsonl

    def append_trace(self, event: TraceEvent | Mapping[str, Any]) -> None:
        """Append one event (with a timestamp) to trace.jsonl.

        The first append of a process starts on a fresh line when a killed process left half
        a line, so a resumed run's events stay one JSON object a line.
        """
        line = json.dumps({"ts": round(time.time(), 3), **event},
                          ensure_ascii=False, default=str) + "\n"
        if not self._trace_checked:
            self._trace_checked = True
            if self.trace.exists() and self.trace.stat().st_size:
                with self.trace.open("rb") as handle:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        line = "\n" + line
        with _naming(self.trace), open(
                os.open(self.trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a",
                encoding="utf-8") as handle:
            handle.write(line)

    def read_trace(self) -> tuple[list[TraceEvent], int]:
        """trace.jsonl's events in order, and how many lines were not one (cut short)."""
        rows, bad = read_jsonl(self.trace)
        return [cast(TraceEvent, row) for row in rows], bad

    def traced_tokens(self) -> int:
        """Teacher tokens of every LLM call in trace.jsonl (what earlier processes spent)."""
        return sum(self.traced_usage())

    def traced_usage(self) -> tuple[int, int]:
        """Prompt and completion tokens of every LLM call in trace.jsonl."""
        if not self.trace.exists():
            return 0, 0
        totals = {"prompt_tokens": 0, "completion_tokens": 0}
        marker = f'"{trace.LLM_CALL}"'
        with self.trace.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if marker not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a killed process
                if isinstance(event, dict) and trace.kind(event) == trace.LLM_CALL:
                    for key in totals:
                        value = event.get(key)
                        totals[key] += value if isinstance(value, int) and value > 0 else 0
        return totals["prompt_tokens"], totals["completion_tokens"]

    # the other outputs

    def read_graph(self) -> str:
        """graph.mmd (``""`` before the run drew it)."""
        return read_text(self.graph)

    def read_metrics(self, *, strict: bool = False) -> tuple[list[JsonDict], int]:
        """metrics.jsonl's rows (one per round) and the lines that were not one (``strict``:
        such a line is a UserError)."""
        return read_jsonl(self.metrics, strict=strict)

    def read_synthetic(self) -> tuple[list[JsonDict], int]:
        """synthetic.jsonl's accepted samples and the lines that were not one."""
        return read_jsonl(self.synthetic)

    def publish_student(self, source: Path) -> None:
        """Make the student at ``source`` the run's ``student/`` (replaced atomically)."""
        staging = self.path / "student.new"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        old = self.path / "student.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.student.exists():
            os.replace(self.student, old)
        os.replace(staging, self.student)
        shutil.rmtree(old, ignore_errors=True)


def best_row(metrics: Sequence[Mapping[str, Any]]) -> JsonDict:
    """The metrics.jsonl row of the best student: the highest dev F1, the earliest round on
    ties (rows without a dev F1 or round, from a run cut short, count as 0)."""
    if not metrics:
        raise ValueError("no metrics rows: the run recorded no round")

    def rank(row: Mapping[str, Any]) -> tuple[float, int]:
        return row.get("dev_f1") or 0.0, -(row.get("round") or 0)

    best: Mapping[str, Any] = max(metrics, key=rank)
    return dict(best)


def config_text(values: Mapping[str, Any]) -> str:
    """config.json's text for ``values``."""
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def read_text(path: Path) -> str:
    """The text of ``path``, ``""`` when it does not exist; UserError when it is unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _decode(text: str) -> tuple[Any, str]:
    """``text`` parsed as JSON, and ``""`` or why it is not a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg})"
    return value, "" if isinstance(value, dict) else "expected a JSON object"


def read_object(path: Path) -> JsonDict:
    """The JSON object in ``path``; UserError (``PATH: not JSON (...)``) when it is not one."""
    value, problem = _decode(read_text(path))
    if problem:
        raise UserError(f"{path}: {problem}")
    return cast(JsonDict, value)


def read_jsonl(path: Path, *, strict: bool = False) -> tuple[list[JsonDict], int]:
    """The JSON objects of ``path``, one a line (none when it does not exist), and how many
    lines were not one. ``strict``: such a line is a UserError (``PATH:LINE: ...``) instead."""
    rows, bad = [], 0
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        row, problem = _decode(line)
        if not problem:
            rows.append(row)
        elif strict:
            raise UserError(f"{path}:{number}: {problem}")
        else:
            bad += 1
    return rows, bad


_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Name ``path`` in an OSError raised without a file name (a failed write or close)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def full_disk(exc: BaseException) -> str | None:
    """What could not be written, when ``exc`` (or an exception it was raised from) says the
    disk or quota is full; else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            return str(current.filename or "a file")
        if isinstance(current, sqlite3.OperationalError) and "full" in str(current):
            return "the checkpoint database"
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def full_disk_is_user_error(resume_hint: str) -> Iterator[None]:
    """Turn a full disk into one line (a UserError) that says what failed and how to go on;
    what the run saved so far stays consistent and resumable."""
    try:
        yield
    except Exception as exc:
        what = full_disk(exc)
        if what is None:
            raise
        raise UserError(f"no space left on the device while writing {what}; free some space, "
                        f"then continue the run with: {resume_hint}") from None
