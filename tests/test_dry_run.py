"""--dry-run: no LLM call, and an estimate close to what the run then spends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evokd import main
from evokd.graph.estimate import approx_tokens
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
