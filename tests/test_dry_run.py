"""--dry-run: no LLM call, and an estimate close to what the run then spends."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from evokd import main
from evokd.graph.config import RunConfig
from evokd.graph.estimate import Estimate, approx_tokens, estimate_run, estimate_table
from evokd.tasks import load_task_data
from fakes.data import read_jsonl
from fakes.openai_server import FakeOpenAI
from fakes.scripted_teacher import reply


def _flags(server: FakeOpenAI, backbone: Path, data: Path, run_dir: Path, *extra: str
           ) -> list[str]:
    return ["--task", "conll03", "--rounds", "2", "--samples-per-round", "8", "--seed", "1",
            "--base-url", server.base_url, "--model", server.model, "--student", str(backbone),
            "--data-dir", str(data), "--run-dir", str(run_dir), "--train-steps", "10",
            "--no-cache", "--quiet", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["evokd", "static"])
def test_dry_run_calls_nothing_and_estimates_within_20_percent(
    strategy: str, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # the server counts tokens as the estimator does, so the test checks the modelling of calls
    # and prompts (how many calls, what they carry), not a tokenizer
    server = fake_openai(reply, count_tokens=approx_tokens)
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    dry_dir = tmp_path / "dry"
    flags = ["--strategy", strategy, "--price-in", "0.15", "--price-out", "0.60"]
    assert main.main(_flags(server, tiny_backbone, tiny_data, dry_dir, "--dry-run",
                            *flags)) == 0
    out = capsys.readouterr().out
    assert server.calls == 0 and not dry_dir.exists()
    total = re.search(r"^total\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)$", out, re.M)
    assert total, out
    estimate = int(total.group(4).replace(",", ""))
    prompt, completion = (int(total.group(i).replace(",", "")) for i in (2, 3))
    assert float(total.group(5)) == pytest.approx((prompt * 0.15 + completion * 0.6) / 1e6,
                                                  abs=1e-4)

    run_dir = tmp_path / "run"
    assert main.main(_flags(server, tiny_backbone, tiny_data, run_dir, *flags)) == 0
    spent = read_jsonl(run_dir / "metrics.jsonl")[-1]["tokens"]
    assert 0.8 * spent <= estimate <= 1.2 * spent, (estimate, spent)
    assert int(total.group(1)) == pytest.approx(server.calls, rel=0.2)
    # with prices, a real run reports its cost (metrics.jsonl, the report)
    calls = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "llm_call"]
    paid = sum(e["prompt_tokens"] * 0.15 + e["completion_tokens"] * 0.6 for e in calls) / 1e6
    assert read_jsonl(run_dir / "metrics.jsonl")[-1]["cost"] == pytest.approx(paid, abs=1e-6)
    assert "(cost " in (run_dir / "report.html").read_text()


def _calls(tiny_data: Path, **settings: object) -> tuple[Counter[str], Estimate]:
    """LLM calls per role of a 2-round dry run of conll03 with ``settings``, and the
    estimate."""
    config = RunConfig(task="conll03", data_dir=str(tiny_data), rounds=2, samples_per_round=8,
                       model="m", **settings)  # type: ignore[arg-type]
    estimate = estimate_run(config, load_task_data(config.spec))
    calls: Counter[str] = Counter()
    for row in estimate.rounds:
        calls.update(row.calls)
    return calls, estimate


def test_dry_run_follows_the_labelling_critic_and_strategy_flags(tiny_data: Path) -> None:
    # 2 rounds of 8 texts, 4 a call: 2 generator calls a round, 1 analyst call, 1 label call
    # per text that passes the critic's pre-screen, 1 verdict call per 8 labelled samples
    calls, _ = _calls(tiny_data)
    assert calls["analyst"] == 2 and calls["generator"] == 4
    assert 12 <= calls["labeler"] <= 16 and calls["critic"] == 2
    assert calls.keys() == {"analyst", "generator", "labeler", "critic"}

    joint, _ = _calls(tiny_data, separate_labeling=False)  # the generator labels its texts
    assert joint["generator_labeler"] == 4 and joint["critic"] == 2
    assert joint["generator"] == joint["labeler"] == 0

    rules_only, _ = _calls(tiny_data, llm_critic=False)
    assert rules_only["critic"] == 0 and rules_only["labeler"] == calls["labeler"]

    no_critic, _ = _calls(tiny_data, critic=False)  # no pre-screen: every text is labelled
    assert no_critic["critic"] == 0 and no_critic["labeler"] == 16

    static, _ = _calls(tiny_data, strategy="static")  # no analysis
    assert static["analyst"] == 0 and static["generator"] == 4

    compact, _ = _calls(tiny_data, prompts="compact", texts_per_call=1)  # one text a call
    assert compact["generator"] == 16

    reviewed, _ = _calls(tiny_data, roles=("reviewer",))  # from round 2, once there is history
    assert reviewed["reviewer"] == 1 and reviewed["analyst"] == 2


def test_dry_run_stops_where_the_budget_is_spent(tiny_data: Path) -> None:
    _, full = _calls(tiny_data)
    spent = sum(row.total_tokens for row in full.rounds)
    _, capped = _calls(tiny_data, budget_tokens=spent // 2)
    assert capped.stop_reason == "token budget spent"
    assert sum(row.total_tokens for row in capped.rounds) <= spent // 2
    table = estimate_table(capped, spent // 2, (None, None), "4 characters a token")
    assert f"--budget-tokens {spent // 2:,} is spent during round" in table
