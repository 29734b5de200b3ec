"""The run directory: config.json, trace.jsonl, synthetic.jsonl, metrics.jsonl, student/ ...

The folder is created 0700 and the files written here 0600: they hold the task's texts and the
LLM's replies. One process at a time works in it (``RunDir.lock``)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from evokd.tasks.errors import UserError


class RunDir:
    """Paths and writers of one run's directory. JSONL files other than the trace are
    rewritten whole from graph state (atomically), so a resumed run never duplicates rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._trace_checked = False

    config = property(lambda self: self.path / "config.json")
    checkpoints = property(lambda self: self.path / "checkpoints.sqlite")
    trace = property(lambda self: self.path / "trace.jsonl")
    graph = property(lambda self: self.path / "graph.mmd")
    synthetic = property(lambda self: self.path / "synthetic.jsonl")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    student = property(lambda self: self.path / "student")

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

    def refuse_existing_run(self) -> None:
        """Raise a UserError when the folder already holds a run (a new run must not mix in)."""
        if self.checkpoints.exists():
            raise UserError(
                f"{self.path} already holds a run; continue it with --resume {self.path} "
                "or choose another --run-dir"
            )

    def work(self, name: str) -> Path:
        """A scratch folder for intermediate students (e.g. ``round-2``)."""
        return self.path / "work" / name

    def write_text(self, path: Path, text: str) -> None:
        """Write ``text`` atomically (temp file + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with _naming(path), open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                                 "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def write_jsonl(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        """Rewrite a JSONL file from ``rows`` atomically."""
        self.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def append_trace(self, event: dict[str, Any]) -> None:
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

    def traced_tokens(self) -> int:
        """Teacher tokens of every LLM call in trace.jsonl (what earlier processes spent)."""
        return sum(self.traced_usage())

    def traced_usage(self) -> tuple[int, int]:
        """Prompt and completion tokens of every LLM call in trace.jsonl."""
        if not self.trace.exists():
            return 0, 0
        totals = {"prompt_tokens": 0, "completion_tokens": 0}
        with self.trace.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if '"llm_call"' not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a killed process
                if isinstance(event, dict) and event.get("event") == "llm_call":
                    for key in totals:
                        value = event.get(key)
                        totals[key] += value if isinstance(value, int) and value > 0 else 0
        return totals["prompt_tokens"], totals["completion_tokens"]

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
