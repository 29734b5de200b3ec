"""Task files: a YAML description of a task and its data, read into a TaskSpec.

```yaml
name: tickets                 # run-directory names and reports (default: the file's stem)
kind: ner                     # ner | classification
description: Named entities in social-media posts.
domain: tweets, Reddit and YouTube comments   # what the generator should write like
labels:                       # entity types or class labels, each with a one-line meaning
  person: names of people, real or fictional
format: conll                 # conll | jsonl | csv (default: from the file suffixes)
data:                         # paths relative to this file
  train: train.conll          # the pool --k-shot draws the seed set from, or instead
  # seeds: my_examples.conll  # the user's own labelled examples, used as the seed set as is
  dev: dev.conll              # required
  test: test.conll            # optional
  # pool: unlabelled.txt      # optional: texts to pick from and label (see README "Your
                              # unlabelled texts"); --pool overrides it
```

``text_field`` / ``label_field`` (classification) and ``tokens_field`` / ``tags_field`` (NER
JSONL and datasets) name the fields; ``max_length`` sets the student's sub-words per text;
``topics`` lists areas the generator's calls spread their texts over (one per call, in turn).
``data: {dataset: DIR_OR_ID, train: train, dev: validation, test: test}`` reads a ``datasets``
dataset instead of files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evokd.core.errors import UserError
from evokd.tasks.spec import SPLIT_KEYS, DataFormat, DataSource, TaskKind, TaskSpec

KINDS: dict[str, TaskKind] = {"ner": "ner", "classification": "cls", "cls": "cls"}
FORMATS: tuple[DataFormat, ...] = ("conll", "jsonl", "csv")
FIELD_KEYS = ("text_field", "label_field", "tokens_field", "tags_field")
TOP_KEYS = ("name", "kind", "description", "domain", "labels", "format", "data", *FIELD_KEYS,
            "max_length", "topics")
DATA_KEYS = (*SPLIT_KEYS, "dataset", "fallback", "pool")
SUFFIX_FORMATS = {".conll": "conll", ".txt": "conll", ".iob": "conll", ".bio": "conll",
                  ".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}


class _Reader:
    """Parses one task file's mapping, with errors that name the file and the key's line."""

    def __init__(self, origin: str, text: str) -> None:
        self.origin = origin
        self.lines = _key_lines(text)

    def fail(self, key: str, message: str) -> UserError:
        line = self.lines.get(key)
        return UserError(f"{self.origin}{f':{line}' if line else ''}: {message}")

    def text(self, raw: dict[str, Any], key: str, default: str = "") -> str:
        value = raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self.fail(key, f"{key} must be a string")
        return str(value).strip()


def _key_lines(text: str) -> dict[str, int]:
    """The 1-based line of each key of the top-level and ``data`` mappings."""
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.setdefault(str(key.value), key.start_mark.line + 1)
            if key.value == "data" and isinstance(value, yaml.MappingNode):
                for sub, _ in value.value:
                    lines.setdefault(f"data.{sub.value}", sub.start_mark.line + 1)
    return lines


def load_task_file(path: Path, base: Path | None = None, builtin: bool = False) -> TaskSpec:
    """Read the task file at ``path``; data paths are resolved against ``base`` (default: the
    file's folder). Any problem is a UserError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"task file not found: {path}; pass a built-in task name or the path "
                        "of a task YAML file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}{where}: not valid YAML ({problem}); fix the task file") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a task file is a YAML mapping with kind, labels and data; "
                        "see the README's 'Your own task'")
    return parse_task(raw, _Reader(str(path), text), base or path.resolve().parent,
                      path.stem, builtin)


def parse_task(raw: dict[str, Any], reader: _Reader, base: Path, default_name: str,
               builtin: bool = False) -> TaskSpec:
    """A TaskSpec from a task file's mapping (see the module docstring for the keys)."""
    unknown = sorted(str(k) for k in raw if k not in TOP_KEYS)
    if unknown:
        raise reader.fail(unknown[0], f"unknown key {unknown[0]!r}; a task file has "
                          f"{', '.join(TOP_KEYS)}")
    name = reader.text(raw, "name", default_name)
    if not name or "/" in name or "\\" in name:
        raise reader.fail("name", f"name {name!r} must be non-empty and hold no '/'")
    kind_text = reader.text(raw, "kind")
    if kind_text not in KINDS:
        raise reader.fail("kind", f"unknown kind {kind_text!r}; use ner or classification")
    kind = KINDS[kind_text]
    labels = _labels(raw.get("labels"), reader, kind)
    fields = {key: reader.text(raw, key) for key in FIELD_KEYS if raw.get(key) is not None}
    source, data_format = _source(raw, reader, base, fields)
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or isinstance(
            max_length, bool) or not 8 <= max_length <= 8192):
        raise reader.fail("max_length", "max_length must be a whole number of sub-words "
                          "(8-8192)")
    topics = raw.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, str) and t.strip() for t in topics):
        raise reader.fail("topics", "topics must be a list of short texts (areas the generated "
                          "texts spread over)")
    return TaskSpec(
        name=name, kind=kind, description=reader.text(raw, "description") or name,
        domain=reader.text(raw, "domain"), labels=tuple(labels), label_descriptions=labels,
        data_format=data_format, source=source, builtin=builtin, max_length=max_length,
        topics=tuple(t.strip() for t in topics),
    )


def _labels(value: Any, reader: _Reader, kind: TaskKind) -> dict[str, str]:
    """The ``labels`` mapping (a plain list is accepted: no descriptions)."""
    if isinstance(value, list):
        value = {item: "" for item in value}
    if not isinstance(value, dict) or not value:
        raise reader.fail("labels", "no labels: list the entity types or classes under labels:, "
                          "each with a one-line meaning")
    labels: dict[str, str] = {}
    for label, meaning in value.items():
        name = str(label).strip()
        if not name or (kind == "ner" and any(c.isspace() for c in name)):
            raise reader.fail("labels", f"label {label!r} must be a non-empty name" + (
                " without spaces" if kind == "ner" else ""))
        if kind == "ner" and (name == "O" or name[:2] in ("B-", "I-", "E-", "S-")):
            raise reader.fail("labels", f"label {name!r}: declare entity types (PER), not tags "
                              "(B-PER)")
        labels[name] = "" if meaning is None else str(meaning).strip()
    return labels


def _source(raw: dict[str, Any], reader: _Reader, base: Path,
            fields: dict[str, str]) -> tuple[DataSource, DataFormat]:
    """The data block as a DataSource with absolute paths, and the data format."""
    data = raw.get("data")
    if not isinstance(data, dict):
        raise reader.fail("data", "data: must map train (or seeds), dev and test to files")
    unknown = sorted(str(k) for k in data if k not in DATA_KEYS)
    if unknown:
        raise reader.fail(f"data.{unknown[0]}", f"unknown data key {unknown[0]!r}; use "
                          f"{', '.join(DATA_KEYS[:5])}")
    for key in (*SPLIT_KEYS, "pool"):
        if key in data and not isinstance(data[key], str):
            raise reader.fail(f"data.{key}", f"data.{key} must be a file name")
    if "dev" not in data:
        raise reader.fail("data", "data.dev is missing; a dev split is required (model "
                          "selection)")
    if "train" not in data and "seeds" not in data:
        raise reader.fail("data", "data needs train (a pool for --k-shot) or seeds (your own "
                          "labelled examples)")
    splits = {key: str(data[key]) for key in SPLIT_KEYS if key in data}
    common: dict[str, Any] = {**fields, "origin": reader.origin,
                              "pool": str((base / data["pool"]).resolve()) if "pool" in data
                              else ""}
    fallback = None
    if isinstance(data.get("fallback"), dict):
        fb = data["fallback"]
        fallback = DataSource(splits={k: str(fb[k]) for k in SPLIT_KEYS if k in fb},
                              dataset=str(fb.get("dataset", "")),
                              **{**common, **{k: str(fb[k]) for k in FIELD_KEYS if k in fb}})
    if "dataset" in data:
        if raw.get("format") not in (None, "datasets"):
            raise reader.fail("format", "data.dataset reads a datasets dataset; drop format:")
        folder = base / str(data["dataset"])
        dataset = str(folder.resolve()) if folder.exists() else str(data["dataset"])
        return DataSource(splits=splits, dataset=dataset, fallback=fallback, **common), "datasets"
    data_format = reader.text(raw, "format") or _format_from_suffix(splits)
    if not data_format:
        raise reader.fail("data", "format: is missing and the file suffixes do not say it; "
                          "add format: conll, jsonl or csv")
    if data_format not in FORMATS:
        raise reader.fail("format", f"unknown format {data_format!r}; use conll, jsonl or csv")
    files = {key: str((base / value).resolve()) for key, value in splits.items()}
    return DataSource(splits=files, fallback=fallback, **common), data_format


def _format_from_suffix(splits: dict[str, str]) -> str:
    """The format implied by the files' suffixes ('' when they do not say)."""
    formats = {SUFFIX_FORMATS.get(Path(p).suffix.lower(), "") for p in splits.values()}
    return formats.pop() if len(formats) == 1 else ""
