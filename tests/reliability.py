"""Shared pieces of the reliability tests: one small loop configuration and its reference run.

Every reliability test runs the same configuration (conll03, 2 rounds, 8 samples a round,
tiny student) against the scripted teacher, so its accepted samples can be compared with
those of one undisturbed reference run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evokd import main
from fakes.data import read_jsonl
from fakes.openai_server import FakeOpenAI
from fakes.scripted_teacher import reply

CANARY_KEY = "sk-evokd-canary-7f3e9b21c4d8a605"
ROUNDS = 2


def loop_args(base_url: str, run_dir: Path, backbone: Path, data: Path, *extra: str,
              model: str = "fake-model") -> list[str]:
    """``main.py`` arguments of the shared configuration (no response cache, 2 s timeout)."""
    return [
        "--task", "conll03", "--rounds", str(ROUNDS), "--k-shot", "1", "--seed", "1",
        "--samples-per-round", "8", "--base-url", base_url, "--model", model,
        "--student", str(backbone), "--data-dir", str(data), "--run-dir", str(run_dir),
        "--train-steps", "20", "--round-steps", "10", "--max-concurrency", "4",
        "--timeout", "2", "--no-cache", "--quiet", *extra,
    ]


def accepted(run_dir: Path) -> list[dict[str, Any]]:
    """synthetic.jsonl of a run: every accepted sample."""
    return read_jsonl(run_dir / "synthetic.jsonl")


def sample_keys(run_dir: Path) -> list[tuple[Any, ...]]:
    """(round, stance, text, tags) of every accepted sample, sorted."""
    return sorted((s["round"], s["stance"], s["text"], tuple(s["tags"]))
                  for s in accepted(run_dir))


def metric_rounds(run_dir: Path) -> list[int]:
    """The ``round`` of each metrics.jsonl row, in file order."""
    return [row["round"] for row in read_jsonl(run_dir / "metrics.jsonl")]


def trace_events(run_dir: Path) -> list[dict[str, Any]]:
    """Events of trace.jsonl."""
    return read_jsonl(run_dir / "trace.jsonl")


@dataclass(frozen=True)
class Reference:
    """The undisturbed run every reliability test compares against."""

    run_dir: Path
    samples: list[dict[str, Any]]
    metrics: list[dict[str, Any]]


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path,
                  tiny_data: Path) -> Reference:
    """One fault-free run of the shared configuration (built once per test session). It keeps
    ``work/``, as a run that stopped part-way does, so a copy cut back to an earlier checkpoint
    can go on."""
    root = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch, FakeOpenAI(reply) as server:
        patch.setenv("EVOKD_CACHE_DIR", str(root / "cache"))
        patch.setenv("OPENAI_API_KEY", "sk-test-fake-key")
        for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
            patch.delenv(name, raising=False)
        run_dir = root / "run"
        assert main.main(loop_args(server.base_url, run_dir, tiny_backbone, tiny_data,
                                   "--keep-work")) == 0
    samples = accepted(run_dir)
    assert {s["round"] for s in samples} == set(range(1, ROUNDS + 1))
    return Reference(run_dir, samples, read_jsonl(run_dir / "metrics.jsonl"))


@pytest.fixture
def no_loaded_students(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the students this process has loaded, so a resumed run must read its own folder
    (a student cached from the reference run would hide a path into the original folder)."""
    from evokd.graph import students

    monkeypatch.setattr(students, "_CACHE", {})


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for ``python main.py`` subprocesses (the test's cache dir, no proxies)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HTTP_PROXY"))}
    env.update({"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **extra})
    return env


def files_containing(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` (recursively, binary included) whose bytes hold ``needle``."""
    data = needle.encode()
    return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and data in p.read_bytes()]


def dumps(value: Any) -> str:
    """Compact JSON (for messages in assertion output)."""
    return json.dumps(value, ensure_ascii=False)[:500]
