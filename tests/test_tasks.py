"""Readers, registry and the k-shot sampler."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evokd.core.errors import UserError
from evokd.tasks import builtin_names, load_task_data, resolve_task, sample_k_shot
from evokd.tasks.readers import read_conll, read_jsonl
from evokd.tasks.sampler import entity_types
from evokd.tasks.spec import TaskSpec
from fakes.data import SHARED_DATA, write_conll


def test_conll_four_columns_with_docstart(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    write_conll(path, [[("EU", "B-ORG"), ("rejects", "O")], [("Peter", "B-PER")]], True)
    assert read_conll(path) == [
        {"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]},
        {"tokens": ["Peter"], "tags": ["B-PER"]},
    ]


def test_conll_two_columns(tmp_path: Path) -> None:
    path = tmp_path / "b.txt"
    write_conll(path, [[("Ohio", "B-LOC"), (".", "O")]], False)
    assert read_conll(path) == [{"tokens": ["Ohio", "."], "tags": ["B-LOC", "O"]}]


def test_malformed_conll_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("EU NNP B-NP B-ORG\nbroken\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"c\.txt:2: malformed CoNLL line"):
        read_conll(path)


def test_unknown_tag_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("EU B-COMPANY\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"d\.txt:1: unknown tag 'B-COMPANY'"):
        read_conll(path, ("PER", "ORG", "LOC", "MISC"))


SENTIMENT = TaskSpec(name="s", kind="cls", description="", labels=("negative", "positive"),
                     label_descriptions={}, data_format="jsonl")


def test_jsonl_labels_by_index_or_name(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": "negative"}\n')
    assert read_jsonl(path, SENTIMENT) == [
        {"text": "good", "label": "positive"}, {"text": "bad", "label": "negative"}]


@pytest.mark.parametrize("line, message", [
    ('{"text": "x", "label": 7}', "unknown label 7"),
    ('{"text": "x"}', 'expected the fields "text" and "label"'),
    ("{not json", "not valid JSON"),
])
def test_bad_jsonl_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(UserError, match=message):
        read_jsonl(path, SENTIMENT)


def test_jsonl_text_may_hold_line_separators(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"text": "a\u2028b", "label": 0}, ensure_ascii=False) + "\n")
    assert read_jsonl(path, SENTIMENT)[0]["text"] == "a\u2028b"


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(UserError, match="unknown task 'nope'; choose one of: ag_news"):
        resolve_task("nope", SHARED_DATA)


def test_every_builtin_task_loads_from_shared_data() -> None:
    assert builtin_names() == ["ag_news", "conll03", "conll04", "imdb", "inshorts", "ohsumed",
                               "sst2"]
    for name in builtin_names():
        spec = resolve_task(name, SHARED_DATA)
        assert spec.builtin and spec.name == name
        data = load_task_data(spec)
        assert data.train and data.dev and data.test, name
        if spec.kind == "cls":
            assert {ex["label"] for ex in data.train} <= set(spec.labels)


def test_ner_seed_set_covers_every_type_and_is_deterministic() -> None:
    spec = resolve_task("conll03", SHARED_DATA)
    train = load_task_data(spec).train
    first = sample_k_shot(spec, train, 1, seed=1)
    assert first == sample_k_shot(spec, train, 1, seed=1)
    assert first != sample_k_shot(spec, train, 1, seed=2)
    counts = Counter(t for ex in first for t in entity_types(ex["tags"]))
    assert all(counts[label] >= 1 for label in spec.labels)
    assert len(first) <= 6
    counts5 = Counter(t for ex in sample_k_shot(spec, train, 5, 1)
                      for t in entity_types(ex["tags"]))
    assert all(counts5[label] >= 5 for label in spec.labels)


def test_cls_seed_set_has_k_per_class() -> None:
    spec = resolve_task("ag_news", SHARED_DATA)
    train = load_task_data(spec).train
    chosen = sample_k_shot(spec, train, 3, seed=4)
    assert Counter(ex["label"] for ex in chosen) == {label: 3 for label in spec.labels}
    assert sample_k_shot(spec, train, None, 1) == train


def test_entity_types_follow_conlleval() -> None:
    assert entity_types(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG"]) == [
        "PER", "LOC", "LOC", "ORG"]
