"""The run directory: config.json, trace.jsonl, synthetic.jsonl, metrics.jsonl, student/ ..."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class RunDir:
    """Paths and writers of one run's directory. JSONL files other than the trace are
    rewritten whole from graph state (atomically), so a resumed run never duplicates rows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    config = property(lambda self: self.path / "config.json")
    checkpoints = property(lambda self: self.path / "checkpoints.sqlite")
    trace = property(lambda self: self.path / "trace.jsonl")
    graph = property(lambda self: self.path / "graph.mmd")
    synthetic = property(lambda self: self.path / "synthetic.jsonl")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    student = property(lambda self: self.path / "student")

    def work(self, name: str) -> Path:
        """A scratch folder for intermediate students (e.g. ``round-2``)."""
        return self.path / "work" / name

    def write_text(self, path: Path, text: str) -> None:
        """Write ``text`` atomically (temp file + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def write_jsonl(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        """Rewrite a JSONL file from ``rows`` atomically."""
        self.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def append_trace(self, event: dict[str, Any]) -> None:
        """Append one event (with a timestamp) to trace.jsonl."""
        with self.trace.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"ts": round(time.time(), 3), **event},
                                    ensure_ascii=False, default=str) + "\n")

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
