"""The loop with a pool of unlabelled texts (``--pool``) against the fake server: the round's
texts are picked, labelled by the teacher, checked, tested on and trained on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evokd import main
from fakes.data import read_jsonl
from fakes.scripted_teacher import news_sentences, reply
from tests.loop_runs import GoldLoop, RunLoop

pytestmark = pytest.mark.slow  # every test runs the loop


@pytest.fixture
def news_pool(tmp_path: Path) -> Path:
    """40 news sentences the scripted labeler finds entities in."""
    path = tmp_path / "news.txt"
    path.write_text("\n".join(news_sentences(1, seed)[0] for seed in range(1000, 1040)) + "\n")
    return path


def _calls(run_dir: Path) -> Counter[str]:
    return Counter(e["role"] for e in read_jsonl(run_dir / "trace.jsonl")
                   if e["event"] == "llm_call")


def test_pool_texts_are_picked_labelled_and_trained_on(
    run_loop: RunLoop, news_pool: Path, env_key, capsys: pytest.CaptureFixture[str],
) -> None:
    server, run_dir = run_loop(reply, "--pool", str(news_pool))
    texts = set(news_pool.read_text().splitlines())
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic and {s["stance"] for s in synthetic} == {"pool"}
    assert {s["text"] for s in synthetic} <= texts
    calls = _calls(run_dir)
    assert "generator" not in calls and calls["labeler"] == 16  # 8 picks a round, 2 rounds
    events = read_jsonl(run_dir / "trace.jsonl")
    selected = [e for e in events if e["event"] == "selected"]
    assert [(e["round"], e["method"], e["picked"]) for e in selected] == [
        (1, "typical", 8), (2, "uncertain", 8)]
    assert all(e["scanned"] == 40 - 8 * (e["round"] - 1) for e in selected)
    labelled = [r["messages"][-1]["content"] for r in server.requests
                if "annotator" in r["messages"][0]["content"]
                and "quality checker" not in r["messages"][0]["content"]]
    assert len(labelled) == 16 and all(any(t in m for t in texts) for m in labelled)
    picked = [s["call"] for s in synthetic]
    assert len(picked) == len(set(picked)), "no pool text is picked twice"
    analyst_round2 = [r for r in server.requests if "analyst" in r["messages"][0]["content"]][1]
    assert "picked 8 real texts (typical)" in json.dumps(analyst_round2["messages"])
    card = (run_dir / "student" / "README.md").read_text()
    assert "texts were picked from a pool of real unlabelled texts (typical ones first" in card
    capsys.readouterr()
    assert main.main(["trace", str(run_dir)]) == 0
    timeline = capsys.readouterr().out
    assert "picked 8 of 32 pool texts (uncertain)" in timeline
    assert "kept 8 (easy 0, hard 0, pool 8)" in timeline
    config = json.loads((run_dir / "config.json").read_text())
    assert config["pool"] == str(news_pool.resolve()) and config["source"] == "auto"


def test_mixed_writes_the_easy_half_and_picks_the_hard_half(run_loop: RunLoop, news_pool: Path,
                                                             env_key) -> None:
    _, run_dir = run_loop(reply, "--pool", str(news_pool), "--source", "mixed", rounds=1)
    stances = Counter(s["stance"] for s in read_jsonl(run_dir / "synthetic.jsonl"))
    assert set(stances) == {"pool", "easy"} and stances["pool"] <= 4
    assert _calls(run_dir)["generator"] >= 1


def test_a_random_cold_start_picks_round_1_as_random_selection_does(
    run_loop: RunLoop, news_pool: Path, env_key,
) -> None:
    picks = {}
    for flags in (["--selection", "random"], ["--cold-start", "random"]):
        _, run_dir = run_loop(reply, "--pool", str(news_pool), *flags, name=flags[0][2:])
        synthetic = read_jsonl(run_dir / "synthetic.jsonl")
        picks[flags[0]] = sorted(s["text"] for s in synthetic if s["round"] == 1)
        selected = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "selected"]
        methods = [e["method"] for e in selected]
        assert methods == (["random", "random"] if "--selection" in flags
                           else ["random", "uncertain"])
    assert picks["--cold-start"] == picks["--selection"] and picks["--cold-start"]
    card = (run_dir / "student" / "README.md").read_text()
    assert "(random ones first, then those the student was least sure of)" in card


@pytest.mark.parametrize(("order", "words"), [("dense", "weighed by how typical they are"),
                                               ("total", "summed over their words")])
def test_the_later_picks_order_is_named_in_the_trace_and_the_model_card(
    run_loop: RunLoop, news_pool: Path, env_key, order: str, words: str,
) -> None:
    _, run_dir = run_loop(reply, "--pool", str(news_pool), "--later-picks", order)
    selected = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "selected"]
    assert [(e["method"], e["picked"]) for e in selected] == [("typical", 8), (order, 8)]
    card = (run_dir / "student" / "README.md").read_text()
    assert f"least sure of, {words})" in card


def test_random_selection_on_train_texts_of_a_classification_task(run_loop: RunLoop,
                                                                  tiny_data: Path,
                                                                  env_key) -> None:
    _, run_dir = run_loop(reply, "--pool", "train", "--selection", "random", task="sst2",
                          rounds=1)
    train = {json.loads(line)["text"].strip() for line in
             (tiny_data / "sst2" / "train.jsonl").read_text().splitlines() if line}
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic and {s["text"] for s in synthetic} <= train
    assert all(s["label"] in ("positive", "negative") and s.get("intended_label") is None
               for s in synthetic)
    selected = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "selected"]
    assert [e["method"] for e in selected] == ["random"]


def test_the_dry_run_counts_labeler_calls_for_picks(news_pool: Path, tiny_data: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main.main(["--task", "conll03", "--data-dir", str(tiny_data), "--rounds", "1",
                      "--samples-per-round", "6", "--base-url", "http://127.0.0.1:9/v1",
                      "--pool", str(news_pool), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    calls = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
             if line.split() and line.split()[0] in ("1", "total")}
    assert calls == {"1": 8, "total": 8}, out  # analyst, 6 picks labelled, one critic batch


@pytest.mark.parametrize(("flags", "message"), [
    (["--source", "pool"], "give --pool FILE"),
    (["--pool", "train", "--strategy", "static"], "--pool works with --strategy evokd"),
    (["--pool", "nowhere.txt"], "data file not found"),
])
def test_pool_flags_that_cannot_work_are_one_line_and_exit_2(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
    message: str,
) -> None:
    run_dir = tmp_path / "run"
    code = main.main(["--task", "conll03", "--data-dir", str(tiny_data), "--run-dir",
                      str(run_dir), "--base-url", "http://127.0.0.1:9/v1", *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run_dir.exists()


def test_with_the_perfect_teacher_picked_train_texts_carry_their_gold_labels(
    gold_loop: GoldLoop, tiny_data: Path
) -> None:
    from evokd.samples.align import entities_from_tags
    from evokd.samples.rules import text_key
    from evokd.tasks import load_task_data, resolve_task, seed_examples

    server, run_dir = gold_loop("--pool", "train")
    assert not [r for r in server.requests if "You write training" in r["messages"][0][
        "content"]]
    spec = resolve_task("conll03", tiny_data)
    data = load_task_data(spec)
    train = {text_key(spec.example_text(ex)): ex for ex in data.train}
    seeds = {text_key(spec.example_text(ex)) for ex in seed_examples(spec, data, 1, 1)}
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert len(synthetic) == 16
    for sample in synthetic:
        key = text_key(" ".join(sample["tokens"]))
        assert key in train and key not in seeds
        assert entities_from_tags(sample["tokens"], sample["tags"]) == entities_from_tags(
            train[key]["tokens"], train[key]["tags"])
