"""The progress lines a person reads when stderr is not a terminal: done/total and elapsed per
phase, the time left of an LLM phase at its pace so far."""

from __future__ import annotations

import pytest

from evokd.graph import progress
from evokd.graph.config import RunConfig
from evokd.graph.progress import ProgressDisplay
from evokd.graph.targeting import expected_calls


def test_llm_and_training_lines_show_done_total_elapsed_and_time_left(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    with ProgressDisplay() as display:
        display.phase("round 1: analyst, generator, labeler, critic", calls=10)
        now[0] += 20  # 2 calls in 20 s: 8 left at 10 s each
        display.llm_event({"prompt_tokens": 100, "completion_tokens": 20}, in_flight=3)
        now[0] += 40
        display.llm_event({"prompt_tokens": 100, "completion_tokens": 20}, in_flight=2)
        display.phase("round 1: training on 9 samples")
        now[0] += 65
        display.training_step(60, 60, 0.25)
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == "  LLM: 1/~10 calls, 3 in flight, 120 tokens, 20s elapsed, about 3m 00s left"
    assert lines[2] == ("  LLM: 2/~10 calls, 2 in flight, 240 tokens, 1m 00s elapsed, "
                        "about 4m 00s left")
    assert lines[-1] == "  training step 60/60, loss 0.250, 1m 05s elapsed"


def test_expected_calls_of_a_round() -> None:
    config = RunConfig(task="sst2", samples_per_round=8, texts_per_call=1, llm_critic=False)
    assert expected_calls(config) == 1 + 8 + 8  # analyst, generator calls, labeler calls
    config = RunConfig(task="sst2", samples_per_round=16, texts_per_call=4, critic_batch=8)
    assert expected_calls(config) == 1 + 4 + 16 + 2
    static = RunConfig(task="sst2", samples_per_round=16, strategy="static")
    assert expected_calls(static) == 4 + 16 + 2  # no analyst in the static baseline
