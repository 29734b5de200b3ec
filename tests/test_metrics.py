"""Entity-level scores as conlleval defines them; accuracy and macro-F1."""

from __future__ import annotations

import pytest

from evokd.student.metrics import cls_scores, ner_scores


def test_exact_entity_matches_only() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
    scores = ner_scores(gold, pred)
    # predicted: PER(0-0) wrong boundary, LOC ok, ORG ok -> P 2/3, R 2/3
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["per_label"]["PER"]["f1"] == 0.0
    assert scores["per_label"]["LOC"]["support"] == 1


def test_i_after_o_starts_an_entity_as_in_conlleval() -> None:
    gold = [["O", "B-LOC", "I-LOC", "O"]]
    assert ner_scores(gold, [["O", "I-LOC", "I-LOC", "O"]])["f1"] == 1.0
    # I-ORG after B-LOC starts a new ORG entity, so the LOC span is cut short
    scores = ner_scores(gold, [["O", "B-LOC", "I-ORG", "O"]])
    assert scores["f1"] == 0.0


def test_accuracy_and_macro_f1() -> None:
    scores = cls_scores(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert scores["accuracy"] == 0.75
    # a: P 1, R .5, F .667; b: P .667, R 1, F .8
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert scores["f1"] == scores["macro_f1"]
