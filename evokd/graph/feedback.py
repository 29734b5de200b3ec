"""The student's feedback on a set of samples: which it gets right and wrong, per label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from evokd.samples.align import entities_from_tags
from evokd.samples.records import Feedback, FeedbackItem, LabelCounts
from evokd.tasks.spec import TaskSpec


def _view(spec: TaskSpec, example: Mapping[str, Any], predicted: Any) -> FeedbackItem:
    if spec.kind == "cls":
        return {"text": example["text"], "gold": example["label"], "predicted": predicted}
    return {
        "text": " ".join(example["tokens"]),
        "gold": entities_from_tags(example["tokens"], example["tags"]),
        "predicted": entities_from_tags(example["tokens"], predicted),
    }


def split_feedback(
    spec: TaskSpec, examples: Sequence[Mapping[str, Any]], predicted: list[Any]
) -> Feedback:
    """``{"correct": [...], "wrong": [...], "per_label": {label: {"correct", "wrong"}}}``.

    A sample is correct when the prediction equals the gold label / tag sequence. Per label,
    NER counts gold mentions found exactly (correct) or missed, plus spurious predictions
    (wrong, under the predicted type); classification counts samples by gold label.
    """
    correct: list[FeedbackItem] = []
    wrong: list[FeedbackItem] = []
    right: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for example, guess in zip(examples, predicted, strict=True):
        view = _view(spec, example, guess)
        gold_key = example["label"] if spec.kind == "cls" else example["tags"]
        (correct if guess == gold_key else wrong).append(view)
        if spec.kind == "cls":
            (right if guess == example["label"] else missed)[example["label"]] += 1
            continue
        gold = {(e["text"], e["type"]) for e in view["gold"]}
        pred = {(e["text"], e["type"]) for e in view["predicted"]}
        for _, kind in gold & pred:
            right[kind] += 1
        for _, kind in gold ^ pred:
            missed[kind] += 1
    per_label: dict[str, LabelCounts] = {
        label: {"correct": right[label], "wrong": missed[label]}
        for label in spec.labels
    }
    return {"correct": correct, "wrong": wrong, "per_label": per_label}
