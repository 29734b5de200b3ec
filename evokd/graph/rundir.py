"""The run directory: config.json, trace.jsonl, synthetic.jsonl, metrics.jsonl, student/ ..."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evokd.core.errors import UserError


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
        tmp.write_text(text, encoding="utf-8")
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
        with self.trace.open("a", encoding="utf-8") as handle:
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
