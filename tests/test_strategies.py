"""Strategies (--strategy static|none), ablations (--no-*) and --seeds, against the fake server.

Each test runs a small real loop (tiny backbone, tiny data, the scripted teacher) and checks the
flag's observable effect in the requests, the trace and the run files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evokd import main
from evokd.core.cli import seed_list
from evokd.tasks import load_task_data, resolve_task
from fakes.data import read_jsonl
from fakes.scripted_teacher import SENTIMENT, entities_in, news_sentences, reply
from tests.loop_runs import RunLoop

ANALYST = "You are the analyst"
GENERATOR = "You write training"
JOINT = "You write labelled training"
LABELER = "You are a careful"
CRITIC = "quality checker"

pytestmark = pytest.mark.usefixtures("env_key")


def _system(request: dict[str, Any]) -> str:
    return request["messages"][0]["content"]


def _user(request: dict[str, Any]) -> str:
    return request["messages"][1]["content"]


def _requests(server: Any, marker: str) -> list[dict[str, Any]]:
    return [r for r in server.requests if marker in _system(r)]


def _config(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "config.json").read_text())


def _calls_by_role(run_dir: Path) -> dict[str, int]:
    calls: dict[str, int] = {}
    for event in read_jsonl(run_dir / "trace.jsonl"):
        if event["event"] == "llm_call":
            calls[event["role"]] = calls.get(event["role"], 0) + 1
    return calls


def joint_reply(request: dict[str, Any]) -> str:
    """The scripted teacher, plus replies for the joint generate-and-label prompt."""
    if JOINT not in _system(request):
        return reply(request)
    user = _user(request)
    n = int(re.search(r"Write and (?:annotate|label) (\d+)", user).group(1))
    seed = sum(map(ord, user))
    label = re.search(r'of the label "([^"]+)"', user)
    if label:
        texts = [f"{SENTIMENT[label.group(1)][i % 2]} , joint take {seed + i}" for i in range(n)]
        return json.dumps({"samples": [{"text": t, "label": label.group(1)} for t in texts]})
    return json.dumps({"samples": [{"sentence": s, "entities": entities_in(s)}
                                   for s in news_sentences(n, seed)]})


@pytest.mark.slow
def test_static_baseline_has_no_analyst_and_stops_at_the_token_budget(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(reply, "--strategy", "static", "--budget-tokens", "6000",
                               "--patience", "9", rounds=6, name="static")
    assert _config(run_dir)["strategy"] == "static"
    assert not _requests(server, ANALYST), "static makes no analyst call"
    generator = _requests(server, GENERATOR)
    assert generator and _requests(server, LABELER) and _requests(server, CRITIC)
    for request in generator:
        assert "<analysis>" not in _user(request) and "<history>" not in _user(request)
    # rounds ask for new texts: the request numbers go on from round to round
    numbers = [re.search(r"Request (\d+):", _user(r)).group(1) for r in generator]
    assert len(set(numbers)) == len(numbers)
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic and {s["stance"] for s in synthetic} == {"plain"}
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert 2 <= len(metrics) < 7
    end = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "run_end"]
    assert end[-1]["stop_reason"] == "token budget spent"
    assert (run_dir / "report.html").exists()


@pytest.mark.slow
def test_strategy_none_is_the_seed_student_alone(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(reply, "--strategy", "none", name="none")
    assert server.calls == 0
    assert [r["round"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [0]
    config = _config(run_dir)
    assert config["strategy"] == "none" and config["rounds"] == 0


@pytest.mark.slow
def test_a_report_that_cannot_be_drawn_does_not_fail_the_run(
    run_loop: RunLoop, monkeypatch, capsys
) -> None:
    import evokd.inspection.report as inspection_report

    def broken(runs: Any) -> str:
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(inspection_report, "render_html", broken)
    run_dir = run_loop(reply, rounds=0).run_dir
    err = [line for line in capsys.readouterr().err.splitlines() if "report" in line]
    assert len(err) == 1 and "no fonts today" in err[0]
    assert not (run_dir / "report.html").exists()


@pytest.mark.slow
def test_no_easy_writes_only_hard_samples(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(reply, "--no-easy", rounds=1)
    assert _config(run_dir)["easy"] is False
    generator = _requests(server, GENERATOR)
    assert generator and all("HARD" in _user(r) and "EASY" not in _user(r) for r in generator)
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert len(synthetic) == 8 and {s["stance"] for s in synthetic} == {"hard"}


@pytest.mark.slow
def test_no_correct_hides_the_correct_samples_from_the_analyst(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(reply, "--no-correct", task="sst2", rounds=1)
    assert _config(run_dir)["correct"] is False
    (analyst,) = _requests(server, ANALYST)
    prompt = _user(analyst)
    assert "got RIGHT (0 shown of 0)" in prompt
    wrong = int(re.search(r"got WRONG \(\d+ shown of (\d+)\)", prompt).group(1))
    assert wrong < 2, "the seed student got a seed example right, and the analyst did not see it"


@pytest.mark.slow
def test_no_history_keeps_earlier_rounds_out_of_the_prompts(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(reply, "--no-history")
    assert _config(run_dir)["history"] is False
    assert len(_requests(server, ANALYST)) == 2
    prompts = [json.dumps(r["messages"]) for r in _requests(server, ANALYST)
               + _requests(server, GENERATOR)]
    assert not [p for p in prompts if "Round 1:" in p or "Review history" in p]
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["round"] for r in metrics] == [0, 1, 2]
    assert metrics[2]["kept"] > 0, "round 2 still asks for new texts"


@pytest.mark.slow
def test_no_separate_labeling_generates_labelled_samples_in_one_call(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(joint_reply, "--no-separate-labeling", rounds=1)
    assert _config(run_dir)["separate_labeling"] is False
    assert not _requests(server, LABELER) and not _requests(server, GENERATOR)
    assert _requests(server, JOINT)
    calls = _calls_by_role(run_dir)
    assert "labeler" not in calls and calls["generator_labeler"] == 2
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert len(synthetic) == 8
    assert all(len(s["tags"]) == len(s["tokens"]) and "B-PER" in s["tags"] for s in synthetic)


@pytest.mark.slow
def test_no_separate_labeling_for_classification(run_loop: RunLoop) -> None:
    server, run_dir = run_loop(joint_reply, "--no-separate-labeling", "--no-llm-critic",
                               task="sst2", rounds=1)
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic and all(s["label"] == s["intended_label"] for s in synthetic)
    assert not _requests(server, LABELER)


@pytest.mark.slow
def test_no_critic_skips_every_check_but_leakage(run_loop: RunLoop, tiny_data: Path) -> None:
    data = load_task_data(resolve_task("conll03", tiny_data))
    leaked = next(" ".join(ex["tokens"]) for ex in data.test if len(ex["tokens"]) >= 5)

    def leaky(request: dict[str, Any]) -> str:
        answer = reply(request)
        if GENERATOR in _system(request) and "Request 1:" in _user(request):
            texts = json.loads(answer)["texts"]
            texts[0], texts[2] = leaked, texts[1]  # one test sentence, one duplicate
            return json.dumps({"texts": texts})
        return answer

    server, run_dir = run_loop(leaky, "--no-critic", rounds=1)
    assert _config(run_dir)["critic"] is False
    assert not _requests(server, CRITIC), "no LLM verdict"
    drops = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "drop"]
    assert [d["reason"] for d in drops] == ["leak"]
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert leaked not in [s["text"] for s in synthetic], "dev/test text is never trained on"
    texts = [s["text"] for s in synthetic]
    assert len(texts) == 7 and len(set(texts)) == 6, "the duplicate passes without the critic"
    assert read_jsonl(run_dir / "metrics.jsonl")[-1]["drop_reasons"] == {"leak": 1}


@pytest.mark.slow
def test_seeds_run_each_seed_and_summarise_mean_and_std(run_loop: RunLoop, capsys) -> None:
    run_dir = run_loop(reply, "--seeds", "1,2", task="sst2", rounds=1, name="seeds").run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and [r["seed"] for r in summary["runs"]] == [1, 2]
    for seed in (1, 2):
        assert _config(run_dir / f"seed-{seed}")["seed"] == seed
        assert (run_dir / f"seed-{seed}" / "report.html").exists()
    accuracies = [r["test_accuracy"] for r in summary["runs"]]
    assert summary["test_accuracy"]["mean"] == pytest.approx(sum(accuracies) / 2)
    assert summary["test_accuracy"]["std"] == pytest.approx(abs(accuracies[0] - accuracies[1])
                                                            / 2 ** 0.5)
    assert {"test_f1", "dev_f1"} <= set(summary)
    out = capsys.readouterr().out
    assert re.search(r"test accuracy over 2 seeds: \d+\.\d\d ± \d+\.\d\d", out)
    assert re.search(r"test macro-F1 over 2 seeds: \d+\.\d\d ± \d+\.\d\d", out)
    assert (run_dir / "compare.html").exists()


def test_seed_lists_parse_and_bad_ones_exit_2(capsys) -> None:
    assert seed_list("1-3,7") == [1, 2, 3, 7]
    assert seed_list("5") == [5]
    with pytest.raises(SystemExit) as exit_info:
        main.main(["--task", "sst2", "--seeds", "3-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bad seed range" in err
