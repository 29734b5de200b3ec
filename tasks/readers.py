"""Readers for the two on-disk formats: CoNLL columns and JSONL."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.errors import UserError
from tasks.spec import Example, TaskSpec


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").split("\n")  # not splitlines: JSON may hold U+2028
    except FileNotFoundError as exc:
        raise UserError(f"data file not found: {path}; each task folder needs its train, dev and "
                        "test files") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8") from exc


def read_conll(path: Path, tag_set: list[str] | None = None) -> list[Example]:
    """Read ``token ... TAG`` lines (2 or more columns); blank lines end sentences.

    ``-DOCSTART-`` lines are skipped. With ``tag_set``, any other tag is an error naming
    ``file:line``.
    """
    allowed = set(tag_set) if tag_set else None
    sentences: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip()
        if not line:
            if tokens:
                sentences.append({"tokens": tokens, "tags": tags})
                tokens, tags = [], []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        columns = line.split()
        if len(columns) < 2:
            raise UserError(
                f"{path}:{number}: malformed CoNLL line {raw!r}: expected 'token ... TAG'"
            )
        tag = columns[-1]
        if allowed is not None and tag not in allowed:
            raise UserError(
                f"{path}:{number}: unknown tag {tag!r}; "
                f"expected one of {', '.join(sorted(allowed))}"
            )
        tokens.append(columns[0])
        tags.append(tag)
    if tokens:
        sentences.append({"tokens": tokens, "tags": tags})
    return sentences


def read_jsonl(path: Path, label_names: tuple[str, ...]) -> list[Example]:
    """Read ``{"text", "label"}`` lines; ``label`` is an index into ``label_names`` or a name."""
    examples: list[Example] = []
    for number, raw in enumerate(_read_lines(path), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg}); write one JSON object "
                            "a line") from exc
        if not isinstance(record, dict) or "text" not in record or "label" not in record:
            raise UserError(f'{path}:{number}: expected an object with "text" and "label"')
        label = record["label"]
        if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(label_names):
            name = label_names[label]
        elif isinstance(label, str) and label in label_names:
            name = label
        else:
            raise UserError(
                f"{path}:{number}: unknown label {label!r}; expected 0-{len(label_names) - 1} "
                f"or one of {', '.join(label_names)}"
            )
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            raise UserError(f'{path}:{number}: "text" must be a non-empty string')
        examples.append({"text": text, "label": name})
    return examples


def read_split(spec: TaskSpec, path: Path) -> list[Example]:
    """Read one split file of a task; an empty split is an error."""
    if spec.data_format == "conll":
        examples = read_conll(path, spec.tag_set)
    else:
        examples = read_jsonl(path, spec.jsonl_label_ids or spec.labels)
    if not examples:
        raise UserError(f"{path}: the split is empty; it needs at least one example")
    return examples
