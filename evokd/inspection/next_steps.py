"""What to do with a finished run: where its report is, the commands that read it, and the
three lines of Python that load its student (shown after a run and in the model card)."""

from __future__ import annotations

import shlex
from pathlib import Path

from evokd.core.rundir import RunDir

PIPELINES = {"cls": "text-classification", "ner": "token-classification"}
EXAMPLE_TEXT = {"cls": "A text to classify.", "ner": "Angela Merkel visited Paris on Monday."}


def load_snippet(student: str, kind: str) -> list[str]:
    """Three lines of Python that load the student folder ``student`` with transformers alone
    and run it on a text."""
    grouped = ', aggregation_strategy="simple"' if kind == "ner" else ""
    return ["from transformers import pipeline",
            f'student = pipeline("{PIPELINES[kind]}", model="{student}"{grouped})',
            f'print(student("{EXAMPLE_TEXT[kind]}"))']


def next_steps(run_dir: Path, kind: str) -> list[str]:
    """The closing lines of a run: the report, the ``trace``/``view``/``predict`` commands
    and how to load the student (what exists of them)."""
    where, folder = shlex.quote(str(run_dir)), RunDir(run_dir)
    lines = []
    if folder.report.is_file():
        lines.append(f"report:   {folder.report}")
    lines += [f"timeline: python main.py trace {where}   (web page: python main.py view {where})"]
    if folder.student.is_dir():
        lines += [f'predict:  python main.py predict {where} "{EXAMPLE_TEXT[kind]}"',
                  "load the student in Python:",
                  *(f"    {line}" for line in load_snippet(str(folder.student), kind))]
    return lines
