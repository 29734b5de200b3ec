"""Deterministic k-shot seed sets.

Rule for classification: ``k`` examples per class, drawn with ``random.Random(seed)`` from the
train split (fewer if a class has fewer).

Rule for NER (greedy, seeded): shuffle the train sentences with ``random.Random(seed)``; walk
through them and keep a sentence when it contains at least one mention of an entity type that
still has fewer than ``k`` kept mentions; stop as soon as every type has ``k`` or more. Sentences
without entities are never kept. With k=1 on CoNLL-2003 this gives a handful of sentences.

``k = None`` means "all": the full train split (the full-shot reference).
"""

from __future__ import annotations

import random
from collections import Counter

from evokd.tasks.data import TaskData
from evokd.tasks.spec import Example, TaskSpec


def entity_types(tags: list[str]) -> list[str]:
    """Entity types of the mentions in an IOB2 tag sequence (one entry per mention)."""
    types: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("B-") or (tag.startswith("I-") and previous[2:] != tag[2:]):
            types.append(tag[2:])
        previous = tag
    return types


def sample_k_shot(spec: TaskSpec, train: list[Example], k: int | None, seed: int) -> list[Example]:
    """The seed set for ``spec``: see the module docstring for the rule."""
    if k is None:
        return list(train)
    rng = random.Random(seed)
    if spec.kind == "cls":
        chosen: list[Example] = []
        for label in spec.labels:
            pool = [ex for ex in train if ex["label"] == label]
            chosen.extend(rng.sample(pool, min(k, len(pool))))
        return chosen
    order = list(range(len(train)))
    rng.shuffle(order)
    counts: Counter[str] = Counter()
    chosen = []
    for index in order:
        mentions = entity_types(train[index]["tags"])
        if any(counts[t] < k for t in mentions if t in spec.labels):
            chosen.append(train[index])
            counts.update(mentions)
        if all(counts[t] >= k for t in spec.labels):
            break
    return chosen


def seed_examples(spec: TaskSpec, data: TaskData, k: int | None, seed: int) -> list[Example]:
    """The run's seed set: the task's own ``seeds:`` file as is, else the k-shot draw."""
    if data.seeds is not None:
        return list(data.seeds)
    return sample_k_shot(spec, data.train, k, seed)
