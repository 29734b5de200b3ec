"""Small in-memory TaskSpecs for tests that need a task but no data files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evokd.tasks.spec import TaskSpec

NER_LABELS = ("PER", "ORG", "LOC", "MISC")
SENTIMENT_LABELS = ("negative", "positive")


def toy_task(kind: str, labels: Sequence[str], description: str,
             label_descriptions: Mapping[str, str] | None = None, *, name: str | None = None,
             **extra: Any) -> TaskSpec:
    """A ``kind`` task named ``toy_<kind>``, in CoNLL files for NER and JSONL otherwise."""
    return TaskSpec(name=name or f"toy_{kind}", kind=kind, description=description,
                    labels=tuple(labels), label_descriptions=dict(label_descriptions or {}),
                    data_format="conll" if kind == "ner" else "jsonl", **extra)
