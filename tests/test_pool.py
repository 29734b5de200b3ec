"""A pool of unlabelled texts (``--pool``): reading it, leaving out leaks, seeds and repeats,
and the selection functions that pick from it."""

from __future__ import annotations

import bisect
import json
import random
from pathlib import Path

import pytest
import torch

from evokd.core.errors import UserError
from evokd.graph.config import RunConfig
from evokd.graph.selection import (
    MIN_WORDS,
    group_counts,
    pick_order,
    predicted_groups,
    scan_sample,
    typical_diverse,
    uncertain_spread,
)
from evokd.graph.strategy import pool_quota, stance_quotas, text_source
from evokd.samples.pool import check_pool_file, describe_pool, read_pool
from evokd.samples.rules import text_key
from evokd.student.probe import Probe
from evokd.tasks import load_task_data, resolve_task


@pytest.fixture(scope="module")
def sst2(tiny_data: Path):
    spec = resolve_task("sst2", tiny_data)
    return spec, load_task_data(spec)


@pytest.fixture(scope="module")
def conll(tiny_data: Path):
    spec = resolve_task("conll03", tiny_data)
    return spec, load_task_data(spec)


def _leaks(spec, data) -> frozenset[str]:
    return frozenset(text_key(spec.example_text(ex)) for ex in data.dev + data.test)


def test_a_text_file_leaves_out_dev_test_seed_and_repeated_texts(sst2, tmp_path: Path) -> None:
    spec, data = sst2
    seed, dev, test = data.train[0]["text"], data.dev[0]["text"], data.test[3]["text"]
    path = tmp_path / "pool.txt"
    path.write_text("\n".join(["a new review of a film", dev, seed, "a new review of a film",
                               "", test.upper(), "another one"]) + "\n")
    pool = read_pool(spec, str(path), data.train, [data.train[0]], _leaks(spec, data))
    assert pool.texts == ["a new review of a film", "another one"]
    assert pool.left_out == {"in dev or test": 2, "a seed example": 1, "repeated": 1}
    assert describe_pool(pool) == ("pool: 2 texts (2 in dev or test, 1 a seed example, "
                                   "1 repeated left out)")


def test_jsonl_and_csv_read_the_task_text_field(sst2, tmp_path: Path) -> None:
    spec, data = sst2
    jsonl = tmp_path / "pool.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "id": i})
                               for i, t in enumerate(["first text", "second text"])) + "\n")
    csv_file = tmp_path / "pool.csv"
    csv_file.write_text('id,text\n1,"a text, with a comma"\n2,plain\n')
    assert read_pool(spec, str(jsonl), data.train, [], frozenset()).texts == [
        "first text", "second text"]
    assert read_pool(spec, str(csv_file), data.train, [], frozenset()).texts == [
        "a text, with a comma", "plain"]


def test_ner_texts_are_split_into_words_as_the_labeler_splits_them(conll, tmp_path: Path
                                                                   ) -> None:
    spec, data = conll
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps({"text": "Germany's U.S. office, in Bonn."}) + "\n"
                    + json.dumps({"tokens": ["EU", "rejects", "it"]}) + "\n")
    pool = read_pool(spec, str(path), data.train, [], frozenset())
    assert pool.texts == ["Germany 's U.S. office , in Bonn .", "EU rejects it"]
    assert pool.examples([0], "ner") == [{"tokens": ["Germany", "'s", "U.S.", "office", ",",
                                                     "in", "Bonn", "."]}]
    assert pool.sample(1, 3) == {"text": "EU rejects it", "stance": "pool", "call": 1,
                                 "round": 3}


def test_train_hides_the_labels_and_leaves_out_the_seed_set(conll) -> None:
    spec, data = conll
    pool = read_pool(spec, "train", data.train, data.train[:2], _leaks(spec, data))
    texts = {spec.example_text(ex) for ex in data.train}
    assert set(pool.texts) <= texts and len(pool.texts) <= len(data.train) - 2
    assert spec.example_text(data.train[0]) not in pool.texts


def test_a_saved_datasets_split_is_a_pool(conll, tmp_path: Path) -> None:
    import datasets

    spec, data = conll
    saved = datasets.DatasetDict({
        "unlabelled": datasets.Dataset.from_dict({"tokens": [["EU", "rejects", "it"],
                                                             ["Bonn", "calls"]],
                                                  "id": [1, 2]}),
        "other": datasets.Dataset.from_dict({"text": ["Paris wins."]})})
    saved.save_to_disk(str(tmp_path / "saved"))
    pool = read_pool(spec, str(tmp_path / "saved" / "unlabelled"), data.train, [], frozenset())
    assert pool.texts == ["EU rejects it", "Bonn calls"]
    other = read_pool(spec, str(tmp_path / "saved" / "other"), data.train, [], frozenset())
    assert other.texts == ["Paris wins ."]  # a text field is split into words
    with pytest.raises(UserError, match=r"several splits; name one, e\.g\. --pool .*saved/"
                       r"other \(it has other, unlabelled\)"):
        check_pool_file(str(tmp_path / "saved"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="not a saved datasets split"):
        check_pool_file(str(tmp_path / "plain"))
    datasets.Dataset.from_dict({"title": ["x"]}).save_to_disk(str(tmp_path / "titles"))
    with pytest.raises(UserError, match="no column 'text' or 'tokens' \\(it has title\\)"):
        read_pool(spec, str(tmp_path / "titles"), data.train, [], frozenset())


@pytest.mark.parametrize(("name", "content", "message"), [
    ("pool.xml", "<a/>", "unknown pool format '.xml'"),
    ("missing.txt", None, "data file not found"),
    ("empty.txt", "\n\n", "holds no text to pick"),
    ("bad.jsonl", '{"title": "x"}\n', 'expected a string field "text"'),
    ("bad.csv", "title\nx\n", "no column 'text'"),
])
def test_a_bad_pool_is_one_clear_error(sst2, tmp_path: Path, name: str, content: str | None,
                                       message: str) -> None:
    spec, data = sst2
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError) as error:
        read_pool(spec, str(path), data.train, [], frozenset())
    assert message in str(error.value) and "\n" not in str(error.value)


def test_source_and_quotas() -> None:
    plain = RunConfig(task="conll03", samples_per_round=9)
    assert text_source(plain) == "generate" and pool_quota(plain) == 0
    pooled = RunConfig(task="conll03", samples_per_round=9, pool="train")
    assert text_source(pooled) == "pool" and pool_quota(pooled) == 9
    assert stance_quotas(pooled) == {}
    mixed = RunConfig(task="conll03", samples_per_round=9, pool="train", source="mixed")
    assert stance_quotas(mixed) == {"easy": 4} and pool_quota(mixed) == 5
    written = RunConfig(task="conll03", samples_per_round=9, pool="train", source="generate")
    assert pool_quota(written) == 0 and stance_quotas(written) == {"hard": 5, "easy": 4}
    with pytest.raises(UserError, match="give --pool"):
        RunConfig(task="conll03", source="pool")
    with pytest.raises(UserError, match="--strategy evokd, not static"):
        RunConfig(task="conll03", pool="train", strategy="static")


def test_the_scan_leaves_out_picked_texts_and_is_bounded() -> None:
    sample = scan_sample(100, range(0, 100, 2), 30, seed=7)
    assert len(sample) == len(set(sample)) == 30 and all(i % 2 for i in sample)
    assert sample == scan_sample(100, range(0, 100, 2), 30, seed=7)
    assert sorted(scan_sample(10, [0, 1], 50, seed=1)) == list(range(2, 10))


def _clusters(sizes: list[int], seed: int = 0) -> torch.Tensor:
    """Points around len(sizes) orthogonal directions (the first point of each is its
    centre)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for index, size in enumerate(sizes):
        centre = torch.zeros(16)
        centre[index] = 1.0
        rows.append(centre.clone())
        rows += [centre + 0.3 * torch.randn(16, generator=gen) for _ in range(size - 1)]
    return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


def test_cold_start_takes_the_most_typical_text_of_each_cluster() -> None:
    x = _clusters([30, 20, 10])
    picks = typical_diverse(x, 3, seed=1)
    owners = sorted(bisect.bisect_right([30, 50], p) for p in picks)
    assert owners == [0, 1, 2], picks  # one text of each cluster
    assert picks == typical_diverse(x, 3, seed=1)
    assert sorted(typical_diverse(x[:2], 3, seed=1)) == [0, 1]  # fewer texts than picks
    # short texts are left out while there are enough long ones: the third cluster's are short
    words = [MIN_WORDS] * 50 + [MIN_WORDS - 1] * 10
    picks = typical_diverse(x, 3, seed=1, words=words)
    assert len(picks) == 3 and all(p < 50 for p in picks)
    assert sorted(bisect.bisect_right([30, 50], p) for p in picks)[:2] == [0, 1]


def test_later_rounds_take_the_least_sure_long_texts_spread_over_labels() -> None:
    kinds = [["B-PER", "O"], ["B-LOC"], ["O"], ["B-PER"], ["B-LOC", "I-LOC"], ["O", "O"]]
    x = torch.nn.functional.normalize(torch.eye(6) + 0.01, dim=-1)
    probe = Probe(confidence=[-0.9, -0.8, -0.7, -0.6, -0.5, -0.95], predicted=kinds,
                  embeddings=x)
    words = [MIN_WORDS] * 5 + [MIN_WORDS - 1]  # the least sure one is too short
    picks = uncertain_spread(probe, words, "ner", weak=["LOC"], k=3)
    # LOC (weak: twice the share) gets two picks, its least sure texts first; then PER
    assert picks == [1, 4, 0]
    assert group_counts(probe, picks, "ner") == {"LOC": 2, "PER": 1}
    # nothing else left: the short text comes last, not never
    assert set(uncertain_spread(probe, words, "ner", weak=[], k=6)) == set(range(6))


def test_dense_later_picks_let_unsure_one_off_texts_give_way_to_unsure_typical_ones() -> None:
    x = _clusters([30, 1, 1])  # 30 texts alike, two one-off texts (positions 30 and 31)
    confidence = [-0.1 - 0.01 * i for i in range(30)] + [-2.0, -1.9]  # the one-offs least sure
    probe = Probe(confidence=confidence, predicted=["a"] * 32, embeddings=x)
    assert pick_order(probe, "uncertain")[:3] == [30, 31, 29]
    dense = pick_order(probe, "dense")  # ranks: unsure x typical
    assert dense[0] in range(20, 30) and min(dense.index(30), dense.index(31)) > 10
    assert uncertain_spread(probe, [9] * 32, "cls", weak=[], k=2, order="dense")[0] == dense[0]
    assert sorted(dense) == list(range(32))


def test_total_later_picks_put_long_texts_with_several_unsure_words_first() -> None:
    x = _clusters([2, 2, 2])
    # per word: text 0 is the least sure, but short; text 3 is less unsure per word, and long
    confidence = [-0.9, -0.5, -0.2, -0.3, -0.1, -0.6]
    words = [6, 8, 30, 25, 40, 5]
    probe = Probe(confidence=confidence, predicted=["a"] * 6, embeddings=x)
    assert pick_order(probe, "uncertain") == [0, 5, 1, 3, 2, 4]
    # summed: 0 -> -5.4, 1 -> -4.0, 2 -> -6.0, 3 -> -7.5, 4 -> -4.0, 5 -> -3.0
    assert pick_order(probe, "total", words) == [3, 2, 0, 1, 4, 5]
    assert uncertain_spread(probe, words, "cls", weak=[], k=2, order="total") == [3, 2]
    with pytest.raises(ValueError, match="length in words"):
        pick_order(probe, "total")
    with pytest.raises(ValueError, match="unknown order 'longest'"):
        pick_order(probe, "longest", words)


def test_near_identical_texts_are_not_picked_twice() -> None:
    x = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]]),
                                      dim=-1)
    probe = Probe(confidence=[-1.0, -0.9, -0.1], predicted=["a", "a", "a"], embeddings=x)
    assert uncertain_spread(probe, [9, 9, 9], "cls", weak=[], k=2) == [0, 2]
    # when only near-identical texts are left, the quota is still filled
    assert uncertain_spread(probe, [9, 9, 9], "cls", weak=[], k=3) == [0, 2, 1]


def test_predicted_groups() -> None:
    assert predicted_groups(["O", "B-ORG", "I-ORG", "B-PER"], "ner") == ["ORG", "PER"]
    assert predicted_groups(["O"], "ner") == ["none"]
    assert predicted_groups("positive", "cls") == ["positive"]


def test_the_student_probe_matches_its_predictions(tiny_backbone: Path, conll) -> None:
    from evokd.student import Student

    spec, data = conll
    student = Student.create(spec, str(tiny_backbone), seed=1)
    examples = [{"tokens": ex["tokens"]} for ex in random.Random(3).sample(data.train, 12)]
    probe = student.probe(examples, batch_size=5)
    assert probe.predicted == student.predict(examples)
    assert len(probe.confidence) == 12 and all(c <= 0 for c in probe.confidence)
    assert probe.embeddings.shape[0] == 12
    assert torch.allclose(probe.embeddings.norm(dim=-1), torch.ones(12), atol=1e-5)


def test_a_task_files_pool_is_the_runs_pool_unless_the_flag_says_otherwise(tmp_path: Path
                                                                          ) -> None:
    from evokd.main import config_from_settings

    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nI love it,pos\nI hate it,neg\n")
    (folder / "dev.csv").write_text("text,label\ngreat,pos\nawful,neg\n")
    (folder / "texts.txt").write_text("so good\nso bad\n")
    (folder / "task.yaml").write_text(
        "kind: classification\ndescription: sentiment\nlabels: {pos: good, neg: bad}\n"
        "data: {train: train.csv, dev: dev.csv, pool: texts.txt}\n")
    task = str(folder / "task.yaml")
    config = config_from_settings({"task": task, "base_url": "http://127.0.0.1:9/v1"})
    assert config.pool == str((folder / "texts.txt").resolve())
    assert config_from_settings({"task": task, "base_url": "http://127.0.0.1:9/v1",
                                 "pool": "train"}).pool == "train"


def test_a_long_real_text_from_the_pool_is_not_dropped_as_too_long(sst2) -> None:
    from evokd.samples.rules import RuleCritic

    spec, _ = sst2
    long_text = " ".join(["word"] * 200)
    critic = RuleCritic(spec)
    assert critic.check({"text": long_text, "label": "positive", "stance": "hard"})[0] == (
        "too_long")
    assert critic.check({"text": long_text, "label": "positive", "stance": "pool"}) is None
