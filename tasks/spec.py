"""Task specifications: what a task is, its labels and how its examples look.

Examples are plain dicts so they can live in graph state and JSONL files:

- NER: ``{"tokens": ["EU", "rejects", ...], "tags": ["B-ORG", "O", ...]}`` (IOB2 tags)
- classification: ``{"text": "a stirring , funny ...", "label": "positive"}`` (label *name*)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

TaskKind = Literal["ner", "cls"]
Example = dict[str, Any]


@dataclass(frozen=True)
class TaskSpec:
    """A task: its kind, label set (entity types for NER, class names for classification)."""

    name: str
    kind: TaskKind
    description: str
    labels: tuple[str, ...]
    label_descriptions: dict[str, str]
    data_format: Literal["conll", "jsonl"]
    domain: str = ""
    # JSONL files store integer labels; this maps them to names (index = id).
    jsonl_label_ids: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tag_set(self) -> list[str]:
        """IOB2 tag vocabulary for NER (``O`` first), class names for classification."""
        if self.kind == "cls":
            return list(self.labels)
        return ["O"] + [f"{p}-{t}" for t in self.labels for p in ("B", "I")]

    def example_text(self, example: Example) -> str:
        """The plain text of an example (tokens joined by spaces for NER)."""
        return " ".join(example["tokens"]) if self.kind == "ner" else example["text"]
