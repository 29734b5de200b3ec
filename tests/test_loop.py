"""The full loop against a local OpenAI-compatible server with a scripted teacher."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evokd import main
from evokd.tasks import load_task_data, resolve_task
from fakes.data import read_jsonl
from fakes.openai_server import FakeOpenAI
from fakes.replies import Reply
from fakes.scripted_teacher import SAMPLE_TAG, reply
from tests.loop_runs import RunLoop, run_main

pytestmark = pytest.mark.slow  # every test runs the loop

RUN_FILES = ("config.json", "checkpoints.sqlite", "trace.jsonl", "graph.mmd", "synthetic.jsonl",
             "metrics.jsonl", "student/config.json", "student/model.safetensors")


def _prompts(server: FakeOpenAI) -> list[str]:
    return [json.dumps(r["messages"], ensure_ascii=False) for r in server.requests]


def _role_requests(server: FakeOpenAI, marker: str) -> list[dict[str, Any]]:
    return [r for r in server.requests if marker in r["messages"][0]["content"]]


def test_two_rounds_write_every_file_and_feed_history_back(run_loop: RunLoop, env_key) -> None:
    server, run_dir = run_loop(reply, "--max-concurrency", "3", latency=0.05)
    for name in RUN_FILES:
        assert (run_dir / name).exists(), name
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [row["round"] for row in metrics] == [0, 1, 2]
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert {s["round"] for s in synthetic} == {1, 2}
    assert {s["stance"] for s in synthetic} == {"easy", "hard"}
    assert sum(row["kept"] for row in metrics) == len(synthetic) > 0

    analyst_calls = _role_requests(server, "analyst")
    assert len(analyst_calls) == 2
    first, second = (json.dumps(r["messages"]) for r in analyst_calls)
    assert "Round 1:" not in first and "Round 1:" in second
    generator_round2 = [r for r in _role_requests(server, "You write training")
                        if "Round 1:" in json.dumps(r["messages"])]
    assert generator_round2, "round-2 generator prompts carry the review history"

    # 8 texts per round are labelled one call each: more pending than the limit of 3
    assert server.peak_in_flight == 3

    events = read_jsonl(run_dir / "trace.jsonl")
    order = [(e["node"], e.get("round")) for e in events if e["event"] == "node"]
    nodes = [name for name, _ in order]
    for _ in range(2):
        fb = nodes.index("feedback")
        assert fb < nodes.index("train"), "a batch is predicted before it is trained on"
        nodes = nodes[nodes.index("assess") + 1:]
    calls = [e for e in events if e["event"] == "llm_call"]
    assert {c["role"] for c in calls} == {"analyst", "generator", "labeler", "critic"}
    assert all(c["prompt_tokens"] > 0 for c in calls)
    assert "sk-test-fake-key" not in (run_dir / "trace.jsonl").read_text()
    assert "sk-test-fake-key" not in (run_dir / "config.json").read_text()
    assert "flowchart" in (run_dir / "graph.mmd").read_text() or "graph TD" in (
        run_dir / "graph.mmd").read_text()


def test_no_dev_or_test_sentence_reaches_a_prompt(
    run_loop: RunLoop, tiny_data: Path, env_key
) -> None:
    server = run_loop(reply, rounds=1).server
    data = load_task_data(resolve_task("conll03", tiny_data))
    prompts = "\n".join(_prompts(server))
    held_out = [" ".join(ex["tokens"]) for ex in data.dev + data.test if len(ex["tokens"]) >= 4]
    assert held_out and not [s for s in held_out if s in prompts]
    seeds_seen = [" ".join(ex["tokens"]) for ex in data.train if " ".join(ex["tokens"]) in prompts]
    assert seeds_seen, "the seed examples do appear (as style examples)"


def test_rerun_of_the_same_config_is_answered_from_the_cache(
    run_loop: RunLoop, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, env_key
) -> None:
    server = run_loop(reply, rounds=1, name="a").server
    calls = server.calls
    assert calls > 0
    assert run_main(server, tmp_path / "b", tiny_backbone, tiny_data, rounds=1) == 0
    assert server.calls == calls
    first = read_jsonl(tmp_path / "a" / "synthetic.jsonl")
    assert first == read_jsonl(tmp_path / "b" / "synthetic.jsonl")
    cached = [e for e in read_jsonl(tmp_path / "b" / "trace.jsonl") if e["event"] == "llm_call"]
    assert cached and all(e["cached"] for e in cached)


def test_malformed_replies_are_retried_with_the_error_then_dropped(
    run_loop: RunLoop, env_key
) -> None:
    victim: list[str] = []

    def broken_labels(request: dict[str, Any]) -> str | Reply:
        system, first_user = request["messages"][0]["content"], request["messages"][1]["content"]
        if "careful named-entity annotator" in system:
            text = SAMPLE_TAG.findall(first_user)[-1]
            victim[:] = victim or [text]
            if text == victim[0]:
                return "I think the entities are Tomas and Novak!"  # never valid JSON
        return reply(request)

    server, run_dir = run_loop(broken_labels, rounds=1)
    bad = [r for r in server.requests if victim[0] in r["messages"][1]["content"]
           and "careful named-entity annotator" in r["messages"][0]["content"]]
    assert len(bad) == 3  # the first attempt and two validation retries
    assert [len(r["messages"]) for r in bad] == [2, 4, 6]
    assert "Tomas and Novak" in bad[1]["messages"][2]["content"]  # the bad reply, fed back
    assert "JSON" in bad[1]["messages"][3]["content"]  # with the validation error
    drops = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "drop"]
    malformed = [d for d in drops if d["reason"] == "malformed_reply"]
    assert len(malformed) == 1 and "Tomas" in malformed[0]["raw"]
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic and not any(victim[0] == s["text"] for s in synthetic)
    victim.clear()  # --reply-retries 0: the unusable reply is dropped at once
    server, run_dir = run_loop(broken_labels, "--reply-retries", "0", "--no-cache", rounds=1,
                              name="no-retry")
    bad = [r for r in server.requests if victim[0] in r["messages"][1]["content"]
           and "careful named-entity annotator" in r["messages"][0]["content"]]
    assert len(bad) == 1
    assert [d["reason"] for d in read_jsonl(run_dir / "trace.jsonl")
            if d["event"] == "drop"].count("malformed_reply") == 1


def test_stopped_run_resumes_without_duplicates(run_loop: RunLoop, env_key, capsys) -> None:
    state = {"analyst_calls": 0, "down": True}

    def flaky(request: dict[str, Any]) -> str | Reply:
        if "analyst" in request["messages"][0]["content"]:
            state["analyst_calls"] += 1
            if state["analyst_calls"] == 2 and state["down"]:
                return Reply.error(401, "invalid api key")
        return reply(request)

    server, run_dir = run_loop(flaky, "--no-cache", code=2)
    err = capsys.readouterr().err
    assert f"--resume {run_dir}" in err and "Traceback" not in err
    assert [r["round"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [0, 1]
    round1 = read_jsonl(run_dir / "synthetic.jsonl")

    state["down"] = False
    assert main.main(["--resume", str(run_dir), "--quiet"]) == 0
    assert [r["round"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [0, 1, 2]
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic[: len(round1)] == round1
    texts = Counter(s["text"] for s in synthetic)
    assert max(texts.values()) == 1
    assert {s["round"] for s in synthetic} == {1, 2}


def test_classification_loop(run_loop: RunLoop, env_key) -> None:
    run_dir = run_loop(reply, task="sst2", rounds=1).run_dir
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert synthetic and {s["label"] for s in synthetic} == {"negative", "positive"}
    assert all(s["label"] == s["intended_label"] for s in synthetic)
    assert "test_accuracy" in read_jsonl(run_dir / "metrics.jsonl")[-1]


def test_token_budget_stops_the_loop(run_loop: RunLoop, env_key) -> None:
    run_dir = run_loop(reply, "--budget-tokens", "3000", rounds=5).run_dir
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert len(metrics) < 6
    end = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "run_end"]
    assert end[-1]["stop_reason"] == "token budget spent"
    # every call reserves its prompt + max_tokens first: the budget is never crossed
    assert metrics[-1]["tokens"] <= 3000


def test_near_copies_and_markup_are_dropped_before_they_are_labelled(
    run_loop: RunLoop, env_key
) -> None:
    written: list[str] = []

    def copying(request: dict[str, Any]) -> str:
        system, user = request["messages"][0]["content"], request["messages"][1]["content"]
        if "You write training" not in system:
            return reply(request)
        seed = json.loads(re.search(r'<example index="0">(.*?)</example>', user, re.S)[1])
        near_copy = seed["text"].rstrip(" .") + " today ."  # not word for word in the prompt
        bad = [near_copy, "...</sample>, <sample>...</sample>"]
        written.extend(bad)
        texts = json.loads(reply(request))["texts"]
        return json.dumps({"texts": [*bad, *texts[2:]]})

    server, run_dir = run_loop(copying, rounds=1)
    labelled = [SAMPLE_TAG.search(r["messages"][1]["content"])[1]
                for r in _role_requests(server, "careful named-entity annotator")]
    assert written and labelled and not set(written) & set(labelled)
    drops = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "drop"]
    reasons = Counter((d["reason"], d["role"]) for d in drops)
    calls = len(written) // 2
    assert reasons[("seed_copy", "critic")] == reasons[("malformed_sample", "critic")] == calls
