"""Scores: entity-level P/R/F1 with seqeval (conlleval-compatible), accuracy and macro-F1."""

from __future__ import annotations

from typing import Any

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score


def ner_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """Micro entity P/R/F1 and a per-type report, seqeval's default (conlleval) mode.

    As in conlleval, an ``I-X`` that follows ``O`` or another type starts a new entity.
    """
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_label = {
        name: {"precision": float(row["precision"]), "recall": float(row["recall"]),
               "f1": float(row["f1-score"]), "support": int(row["support"])}
        for name, row in report.items()
        if not name.endswith(" avg")
    }
    return {
        "f1": float(f1_score(gold, predicted, zero_division=0)),
        "precision": float(precision_score(gold, predicted, zero_division=0)),
        "recall": float(recall_score(gold, predicted, zero_division=0)),
        "per_label": per_label,
    }


def cls_scores(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels`` (the headline ``f1``) and per-label P/R/F1."""
    per_label: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        n_pred = sum(p == label for p in predicted)
        n_gold = sum(g == label for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1,
                            "support": n_gold}
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(len(gold), 1)
    macro_f1 = sum(row["f1"] for row in per_label.values()) / max(len(labels), 1)
    return {"f1": macro_f1, "accuracy": accuracy, "macro_f1": macro_f1, "per_label": per_label}
