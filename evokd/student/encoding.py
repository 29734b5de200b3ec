"""Turning examples into model inputs (first sub-word labelling for NER)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PreTrainedTokenizerBase

from evokd.tasks.spec import TaskSpec

IGNORE = -100
MAX_LENGTH = 128


def encode(
    spec: TaskSpec,
    tokenizer: PreTrainedTokenizerBase,
    example: Mapping[str, Any],
    label2id: dict[str, int] | None = None,
    max_length: int = MAX_LENGTH,
) -> dict[str, Any]:
    """Token ids for one example, with ``labels`` when ``label2id`` is given.

    NER: the label of a word sits on its first sub-word; other sub-words and special tokens
    get -100. ``word_ids`` is kept so predictions can be read back per word. ``truncated``
    says whether the text was cut at ``max_length`` sub-words.
    """
    if spec.kind == "cls":
        enc = tokenizer(example["text"], truncation=True, max_length=max_length)
        item = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "truncated": len(enc["input_ids"]) >= max_length and len(tokenizer(
                    example["text"], truncation=False, verbose=False)["input_ids"]) > max_length}
        if label2id is not None:
            item["labels"] = label2id[example["label"]]
        return item
    enc = tokenizer(
        example["tokens"], is_split_into_words=True, truncation=True, max_length=max_length
    )
    word_ids = enc.word_ids()
    last_word = max((w for w in word_ids if w is not None), default=-1)
    item = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "word_ids": word_ids, "truncated": last_word < len(example["tokens"]) - 1}
    if label2id is not None:
        labels, previous = [], None
        for word in word_ids:
            first = word is not None and word != previous
            labels.append(label2id[example["tags"][word]] if first else IGNORE)
            previous = word
        item["labels"] = labels
    return item


def collate(tokenizer: PreTrainedTokenizerBase, items: list[dict[str, Any]],
            device: str = "cpu") -> dict[str, Any]:
    """Pad a batch to its longest member (dynamic padding); labels padded with -100; the
    tensors on ``device``."""
    import torch

    width = max(len(item["input_ids"]) for item in items)
    pad = tokenizer.pad_token_id or 0
    batch = {
        "input_ids": torch.tensor([i["input_ids"] + [pad] * (width - len(i["input_ids"]))
                                   for i in items]),
        "attention_mask": torch.tensor([i["attention_mask"] + [0] * (width - len(i["input_ids"]))
                                        for i in items]),
    }
    if "labels" in items[0]:
        if isinstance(items[0]["labels"], list):
            batch["labels"] = torch.tensor(
                [i["labels"] + [IGNORE] * (width - len(i["labels"])) for i in items]
            )
        else:
            batch["labels"] = torch.tensor([i["labels"] for i in items])
    if device != "cpu":
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return batch
