"""Readers for the data formats a task file names: CoNLL columns, JSONL and CSV files.

Every reader returns examples in the shapes of tasks/spec.py. Labels are checked against the
task's declared labels: an undeclared one is an error naming ``file:line``, unless the caller
passes an ``unknown`` counter (``main.py task`` does, to list them all as warnings); then NER
tags of undeclared types become ``O`` and classification examples with them are left out.

Files are streamed line by line (never read whole), and a file over ``MAX_DATA_BYTES`` is
refused before it is read: every example of a split is held in memory, at 2.5 to 3 times
its size in the file.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from evokd.core.errors import UserError
from evokd.tasks.spec import Example, TaskSpec
from evokd.tasks.tagging import normalise_tags, tag_type

MAX_DATA_BYTES = 512 * 1024 * 1024  # per data file
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # characters in one CSV field (Python's default: 128 Ki)


def open_data(path: Path, hint: str = "", newline: str | None = None) -> IO[str]:
    """``path`` opened as UTF-8 text; a clear UserError if it is missing or over
    ``MAX_DATA_BYTES``."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise IsADirectoryError(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise UserError(f"data file not found: {path}; {hint or 'check the path'}") from exc
    if size > MAX_DATA_BYTES:
        raise UserError(f"{path} is {size / 2**20:,.0f} MiB; evokd reads data files of up to "
                        f"{MAX_DATA_BYTES // 2**20} MiB (each split is held in memory): use a "
                        "sample of it (the k-shot draw needs few examples)")
    return path.open(encoding="utf-8", newline=newline)


def read_lines(path: Path, hint: str = "") -> Iterator[str]:
    """The lines of a UTF-8 text file, one at a time, without their line break (a clear
    UserError if it is missing, too large or not UTF-8)."""
    with open_data(path, hint) as handle:
        try:
            for line in handle:
                yield line[:-1] if line.endswith("\n") else line
        except UnicodeDecodeError:
            raise not_utf8(path) from None


def not_utf8(path: Path) -> UserError:
    """The error for a file that is not UTF-8, naming the offset of its first bad byte."""
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                offset += exc.start
                break
            offset += len(raw)
    return UserError(f"{path}: not UTF-8 text (byte {offset}); convert it to UTF-8")


class LabelTally(Counter[str]):
    """Labels a task does not declare, counted (the lenient read of ``main.py task``), with
    the places (``file:line``) where each occurs, the first few kept."""

    KEPT = 3

    def __init__(self) -> None:
        super().__init__()
        self.places: dict[str, list[str]] = {}

    def note(self, label: str, where: str) -> None:
        """Count one use of ``label`` at ``where``."""
        self[label] += 1
        places = self.places.setdefault(label, [])
        if len(places) < self.KEPT:
            places.append(where)


def check_tag(tag: str, labels: tuple[str, ...], where: str,
              unknown: LabelTally | None) -> str:
    """``tag`` if its entity type is declared; else an error (or ``O``, counted in ``unknown``)."""
    if tag == "O":
        return tag
    kind = tag_type(tag)
    if kind is None:
        raise UserError(f"{where}: malformed tag {tag!r}: expected O or B-/I-/E-/S-TYPE")
    if kind in labels:
        return tag
    if unknown is None:
        raise UserError(f"{where}: unknown tag {tag!r}; expected a type among "
                        f"{', '.join(labels)} (declare it under labels: or fix the data)")
    unknown.note(kind, where)
    return "O"


def class_label(value: Any, labels: tuple[str, ...], where: str,
                unknown: LabelTally | None) -> str | None:
    """A class label given by name or by its index in ``labels``; None if undeclared and counted."""
    if isinstance(value, str) and value in labels:
        return labels[labels.index(value)]  # the task's own string, shared by every example
    index = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        index = int(value)
    if index is not None and 0 <= index < len(labels):
        return labels[index]
    if unknown is None:
        raise UserError(f"{where}: unknown label {value!r}; expected 0-{len(labels) - 1} "
                        f"or one of {', '.join(labels)} (declare it under labels: or fix the data)")
    unknown.note(str(value), where)
    return None


def read_conll(path: Path, labels: tuple[str, ...] | None = None, hint: str = "",
               unknown: LabelTally | None = None) -> list[Example]:
    """Read ``token ... TAG`` lines (tag in the last column, whitespace or tab separated);
    blank lines end sentences; ``-DOCSTART-`` lines are skipped. IOB1 and BIOES tags are
    normalised to IOB2. With ``labels``, tags of other types are errors naming ``file:line``."""
    sentences: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, raw in enumerate(read_lines(path, hint), start=1):
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
        if labels is not None:
            tag = check_tag(tag, labels, f"{path}:{number}", unknown)
        tokens.append(columns[0])
        tags.append(tag)
    if tokens:
        sentences.append({"tokens": tokens, "tags": tags})
    return normalise_tags(sentences)


def conll_text(examples: Sequence[Mapping[str, Any]]) -> str:
    """NER examples as CoNLL text that :func:`read_conll` reads back: a ``token TAG`` line
    per token, a blank line after each sentence."""
    return "".join("".join(f"{token} {tag}\n" for token, tag in
                           zip(ex["tokens"], ex["tags"], strict=True)) + "\n"
                   for ex in examples if ex.get("tokens"))


def jsonl_records(path: Path, hint: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file."""
    for number, raw in enumerate(read_lines(path, hint), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg}); write one JSON object "
                            "a line") from exc
        if not isinstance(record, dict):
            raise UserError(f"{path}:{number}: expected a JSON object")
        yield number, record


def cls_example(record: dict[str, Any], spec: TaskSpec, where: str,
                unknown: LabelTally | None) -> Example | None:
    """A classification example from one record (JSONL line, CSV row or dataset row)."""
    text_field, label_field = spec.source.text_field, spec.source.label_field
    if text_field not in record or label_field not in record:
        raise UserError(f'{where}: expected the fields "{text_field}" and "{label_field}" '
                        "(set text_field / label_field in the task file)")
    label = class_label(record[label_field], spec.labels, where, unknown)
    text = record[text_field]
    if not isinstance(text, str) or not text.strip():
        raise UserError(f'{where}: "{text_field}" must be a non-empty string')
    return None if label is None else {"text": text, "label": label}


def ner_example(record: dict[str, Any], spec: TaskSpec, where: str,
                unknown: LabelTally | None, tag_names: list[str] | None = None) -> Example:
    """An NER example from a record with a token list and a tag list (names or ClassLabel ids)."""
    tokens_field, tags_field = spec.source.tokens_field, spec.source.tags_field
    tokens, tags = record.get(tokens_field), record.get(tags_field)
    if not isinstance(tokens, list) or not isinstance(tags, list) or len(tokens) != len(tags):
        raise UserError(f'{where}: expected lists "{tokens_field}" and "{tags_field}" of the '
                        "same length (set tokens_field / tags_field in the task file)")
    if tag_names is not None:
        tags = [tag_names[t] if isinstance(t, int) and 0 <= t < len(tag_names) else t
                for t in tags]
    if not all(isinstance(t, str) and t for t in tokens + tags):
        raise UserError(f'{where}: "{tokens_field}" and "{tags_field}" must hold strings')
    return {"tokens": list(tokens),
            "tags": [check_tag(t, spec.labels, where, unknown) for t in tags]}


def read_jsonl(path: Path, spec: TaskSpec, hint: str = "",
               unknown: LabelTally | None = None) -> list[Example]:
    """Read JSONL: ``text_field``/``label_field`` for classification (label by name or index),
    ``tokens_field``/``tags_field`` for NER."""
    if spec.kind == "ner":
        return normalise_tags([ner_example(r, spec, f"{path}:{n}", unknown)
                               for n, r in jsonl_records(path, hint)])
    examples = [cls_example(r, spec, f"{path}:{n}", unknown) for n, r in jsonl_records(path, hint)]
    return [ex for ex in examples if ex is not None]


def read_csv(path: Path, spec: TaskSpec, hint: str = "",
             unknown: LabelTally | None = None) -> list[Example]:
    """Read a classification CSV with a header row naming ``text_field`` and ``label_field``."""
    if spec.kind == "ner":
        raise UserError(f"{spec.source.origin}: format csv holds classification data; write NER "
                        "data as conll or jsonl")
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with open_data(path, hint, newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            return list(_csv_examples(reader, path, spec, unknown))
        except csv.Error as exc:
            raise UserError(f"{path}:{reader.line_num + 1}: unreadable CSV ({exc}); fields may "
                            f"hold up to {CSV_FIELD_LIMIT // 2**20} MiB") from None
        except UnicodeDecodeError:
            raise not_utf8(path) from None


def _csv_examples(reader: csv.DictReader[str], path: Path, spec: TaskSpec,
                  unknown: LabelTally | None) -> Iterator[Example]:
    fields = reader.fieldnames or []
    for name in (spec.source.text_field, spec.source.label_field):
        if name not in fields:
            raise UserError(f"{path}:1: no column {name!r} in the header ({', '.join(fields)}); "
                            "set text_field / label_field in the task file")
    for row in reader:
        if not any((value or "").strip() for value in row.values()):
            continue
        example = cls_example(row, spec, f"{path}:{reader.line_num}", unknown)
        if example is not None:
            yield example


def read_file(spec: TaskSpec, path: Path, hint: str = "",
              unknown: LabelTally | None = None) -> list[Example]:
    """Read one split file in the task's format."""
    if spec.data_format == "conll":
        if spec.kind != "ner":
            raise UserError(f"{spec.source.origin}: format conll holds NER data; write "
                            "classification data as jsonl or csv")
        return read_conll(path, spec.labels, hint, unknown)
    if spec.data_format == "csv":
        return read_csv(path, spec, hint, unknown)
    return read_jsonl(path, spec, hint, unknown)
