"""Task specifications: what a task is, its labels, where its data lives and how it looks.

Examples are plain dicts so they can live in graph state and JSONL files:

- NER: ``{"tokens": ["EU", "rejects", ...], "tags": ["B-ORG", "O", ...]}`` (IOB2 tags)
- classification: ``{"text": "a stirring , funny ...", "label": "positive"}`` (label *name*)

A spec is read from a task file (tasks/taskfile.py); the resolved spec, with absolute data
paths, is what a run stores in config.json (:meth:`TaskSpec.to_dict` / :meth:`from_dict`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

TaskKind = Literal["ner", "cls"]
DataFormat = Literal["conll", "jsonl", "csv", "datasets"]
Example = dict[str, Any]
SPLIT_KEYS = ("train", "seeds", "dev", "test")


@dataclass(frozen=True)
class DataSource:
    """Where a task's splits come from.

    ``splits`` maps ``train`` / ``seeds`` / ``dev`` / ``test`` to an absolute file path, or to a
    split name of ``dataset`` (a ``save_to_disk`` directory or a hub id) for the ``datasets``
    format. ``fallback`` (built-in conll03 only) is a ``datasets`` source used when the files
    are missing and the hub is reachable. ``origin`` names where the spec came from, for messages.
    ``pool`` is a file of unlabelled texts the loop may pick from (the run's ``--pool`` when the
    flag is not given).
    """

    splits: dict[str, str] = field(default_factory=dict)
    dataset: str = ""
    text_field: str = "text"
    label_field: str = "label"
    tokens_field: str = "tokens"
    tags_field: str = "tags"
    origin: str = ""
    fallback: DataSource | None = None
    pool: str = ""  # unlabelled texts to pick from (``data: pool:``), an absolute path


@dataclass(frozen=True)
class TaskSpec:
    """A task: its kind, label set (entity types for NER, class names for classification)."""

    name: str
    kind: TaskKind
    description: str
    labels: tuple[str, ...]
    label_descriptions: dict[str, str]
    data_format: DataFormat
    domain: str = ""
    source: DataSource = field(default_factory=DataSource)
    builtin: bool = False
    max_length: int | None = None  # the student's sub-words per text, if the task file says
    topics: tuple[str, ...] = ()  # areas the generator's calls spread their texts over

    @property
    def tag_set(self) -> list[str]:
        """IOB2 tag vocabulary for NER (``O`` first), class names for classification."""
        if self.kind == "cls":
            return list(self.labels)
        return ["O"] + [f"{p}-{t}" for t in self.labels for p in ("B", "I")]

    def example_text(self, example: Example) -> str:
        """The plain text of an example (tokens joined by spaces for NER)."""
        return " ".join(example["tokens"]) if self.kind == "ner" else example["text"]

    def to_dict(self) -> dict[str, Any]:
        """The whole spec as JSON-ready values (what config.json stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TaskSpec:
        """Inverse of :meth:`to_dict`."""
        values = dict(raw)
        values["labels"] = tuple(values["labels"])
        values["topics"] = tuple(values.get("topics") or ())
        values["source"] = _source_from_dict(values.get("source") or {})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _source_from_dict(raw: dict[str, Any]) -> DataSource:
    values = dict(raw)
    if values.get("fallback"):
        values["fallback"] = _source_from_dict(values["fallback"])
    known = {f.name for f in dataclasses.fields(DataSource)}
    return DataSource(**{k: v for k, v in values.items() if k in known})
