"""``main.py predict RUN [TEXT ... | --file F] [--json]``: the delivered student on new texts.

Reads the student alone (``RUN/student``, or a student folder itself) and calls no LLM:
classification prints each text's label, NER the entities found in it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evokd.core.cli import UsageParser, run_command
from evokd.core.errors import UserError
from evokd.student import TASK_FILE
from evokd.tasks.spec import TaskSpec


def student_dir(path: Path) -> Path:
    """The student folder of a run directory (or ``path`` itself when it is one)."""
    for candidate in (path / "student", path):
        if (candidate / TASK_FILE).is_file():
            return candidate
    if not path.exists():
        raise UserError(f"{path}: no such run directory")
    raise UserError(f"{path} holds no student (no student/{TASK_FILE}); pass a run directory "
                    "whose run trained its seed student, or its student/ folder")


def student_task(folder: Path) -> TaskSpec:
    """The task the student in ``folder`` was trained for (kind and labels), from the file the
    student carries, so no task file or data is needed."""
    try:
        about = json.loads((folder / TASK_FILE).read_text(encoding="utf-8"))
        kind, labels = about["kind"], tuple(about["labels"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{folder / TASK_FILE}: unreadable ({exc}); the student folder is "
                        "damaged, train it again") from None
    return TaskSpec(name=str(about.get("task", "")), kind=kind, description="", labels=labels,
                    label_descriptions=dict(about.get("label_descriptions") or {}),
                    data_format="jsonl")


def read_texts(texts: Sequence[str], file: str | None) -> list[str]:
    """The texts to label: the arguments, else one a line from ``file`` (``-``: stdin); blank
    lines are skipped."""
    if texts and file:
        raise UserError("give texts as arguments or --file F, not both")
    if file:
        try:
            lines = (sys.stdin.read() if file == "-"
                     else Path(file).read_text(encoding="utf-8")).splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{file}: cannot read ({exc}); --file takes a UTF-8 text file "
                            "with one text a line") from None
        texts = lines
    found = [text.strip() for text in texts if text.strip()]
    if not found:
        raise UserError("no text to label; give one or more texts, or --file F (one a line)")
    return found


def predictions(spec: TaskSpec, folder: Path, texts: list[str]) -> list[dict[str, Any]]:
    """One record per text: ``{"text", "label"}`` (classification) or ``{"text", "tokens",
    "tags", "entities": [{"text", "type"}]}`` (NER)."""
    from evokd.samples.align import entities_from_tags, tokenize
    from evokd.student import Student

    student = Student.load(spec, folder)
    if spec.kind == "cls":
        labels = student.predict([{"text": text, "label": spec.labels[0]} for text in texts])
        return [{"text": text, "label": label} for text, label in zip(texts, labels, strict=True)]
    examples = [{"tokens": tokenize(text), "tags": []} for text in texts]
    for example in examples:
        example["tags"] = ["O"] * len(example["tokens"])
    tags = student.predict(examples)
    return [{"text": text, "tokens": ex["tokens"], "tags": row,
             "entities": entities_from_tags(ex["tokens"], row)}
            for text, ex, row in zip(texts, examples, tags, strict=True)]


def show(record: dict[str, Any], as_json: bool) -> str:
    """One line for a prediction: JSON, or ``LABEL<tab>TEXT`` / ``TEXT<tab>SPAN (TYPE), ...``."""
    if as_json:
        return json.dumps(record, ensure_ascii=False)
    if "label" in record:
        return f"{record['label']}\t{record['text']}"
    found = ", ".join(f"{e['text']} ({e['type']})" for e in record["entities"]) or "(none)"
    return f"{record['text']}\t{found}"


def _predict(args: argparse.Namespace) -> int:
    folder = student_dir(Path(args.run_dir))
    spec = student_task(folder)
    texts = read_texts(args.texts, args.file)
    from evokd.main import quiet_libraries

    quiet_libraries()
    for record in predictions(spec, folder, texts):
        print(show(record, args.json))
    return 0


class _IntermixedParser(UsageParser):
    """Flags may come before, between or after the texts (``RUN --json TEXT TEXT``)."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        return self.parse_intermixed_args(args, namespace)


def build_parser() -> UsageParser:
    """The ``predict`` command's flags."""
    parser = _IntermixedParser(command="predict", description=(
        "Label new texts with a run's student (no LLM): the label of each text, or the "
        "entities found in it."))
    parser.add_argument("run_dir", metavar="RUN", help="a run directory, or a student folder")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label")
    parser.add_argument("--file", metavar="F",
                        help="read the texts from F, one a line (- for stdin)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    return parser


def predict_main(argv: Sequence[str]) -> int:
    """``main.py predict``; exit 2 with one line on a bad run directory or input."""
    return run_command(build_parser(), argv, _predict)
