"""Small real loops against the fake server: ``run_main``, and the ``run_loop`` / ``env_key``
fixtures (a pytest plugin, listed in tests/conftest.py).

Every loop uses the tiny backbone and data, one seed and 8 samples a round, so a two-round loop
takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from evokd import main
from fakes.openai_server import FakeOpenAI
from fakes.replies import Responder


def run_main(server: FakeOpenAI, run_dir: Path, backbone: Path, data: Path, *extra: str,
             task: str = "conll03", rounds: int = 2) -> int:
    """Exit code of ``main.main`` running the small loop against ``server`` into ``run_dir``."""
    return main.main([
        "--task", task, "--rounds", str(rounds), "--k-shot", "1", "--seed", "1",
        "--samples-per-round", "8", "--base-url", server.base_url, "--model", server.model,
        "--student", str(backbone), "--data-dir", str(data), "--run-dir", str(run_dir),
        "--train-steps", "20", "--round-steps", "10", "--quiet", *extra,
    ])


class LoopRun(NamedTuple):
    """The server a loop talked to and the run directory it wrote."""

    server: FakeOpenAI
    run_dir: Path


RunLoop = Callable[..., LoopRun]


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OPENAI_API_KEY for the loop's teacher (the fake server takes any key)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake-key")


@pytest.fixture
def run_loop(tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai) -> RunLoop:
    """``run_loop(responder, *extra, name="run", latency=0.0, task=, rounds=, code=0)``.

    Starts a fake server answering with ``responder``, runs the small loop into
    ``tmp_path / name``, asserts its exit code is ``code`` and returns (server, run_dir).
    """

    def run(responder: Responder, *extra: str, name: str = "run", latency: float = 0.0,
            task: str = "conll03", rounds: int = 2, code: int = 0) -> LoopRun:
        server = fake_openai(responder, latency=latency)
        run_dir = tmp_path / name
        assert run_main(server, run_dir, tiny_backbone, tiny_data, *extra, task=task,
                        rounds=rounds) == code
        return LoopRun(server, run_dir)

    return run


GoldLoop = Callable[..., LoopRun]


@pytest.fixture
def gold_loop(tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai,
              monkeypatch: pytest.MonkeyPatch) -> GoldLoop:
    """``gold_loop(*extra, follow_log="")``: the small conll03 loop (2 rounds of 8 samples, 10
    training steps, json_schema output, no cache) against the perfect teacher of
    bench/gold_teacher.py (following what requests show when ``follow_log`` names its log);
    asserts exit code 0 and returns (server, run_dir)."""
    from bench.gold_teacher import GoldTeacher

    def run(*extra: str, follow_log: str = "") -> LoopRun:
        gold = GoldTeacher.for_run("conll03", str(tiny_data), 1, 1,
                                   **({"follow_log": follow_log} if follow_log else {}))
        server = fake_openai(gold)
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        run_dir = tmp_path / "run"
        assert main.main([
            "--task", "conll03", "--rounds", "2", "--samples-per-round", "8", "--seed", "1",
            "--base-url", server.base_url, "--model", server.model, "--student",
            str(tiny_backbone), "--data-dir", str(tiny_data), "--run-dir", str(run_dir),
            "--train-steps", "10", "--structured-method", "json_schema", "--no-cache",
            "--quiet", *extra]) == 0
        return LoopRun(server, run_dir)

    return run
