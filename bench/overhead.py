"""Orchestration overhead per round, and a cache rerun that must make no server calls.

The real loop (graph, checkpoints, trace) runs a few rounds with the tiny student and an
instant scripted teacher (bench/fake_server.py, in its own process, latency 0). Every stretch of
time spent inside student training, dev/test scoring, student predictions and LLM calls
(``TeacherClient.ask``) is recorded; over the rounds (analyst start of round 1 to the end of the
last assess), what lies outside all of them is orchestration: LangGraph scheduling, checkpoint
writes, the trace, run files, prompt rendering and the critic's rules. Checkpoint, trace and
run-file writes are also timed, so the overhead is split into those and the rest.

Then the same configuration runs again into a new run directory: every LLM reply must come
from the response cache (server calls on the rerun: 0), and its overhead is printed too.

    python bench/overhead.py [--rounds 3] [--samples 8]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main as cli  # noqa: E402
from bench.fake_server import ServerProcess  # noqa: E402
from fakes.backbones import build_tiny_backbone  # noqa: E402
from fakes.data import copy_subset  # noqa: E402

WORK = ("train", "score", "predict", "llm")
Interval = tuple[float, float]


class Timings:
    """Intervals per category, plus the rounds' window."""

    def __init__(self) -> None:
        self.intervals: dict[str, list[Interval]] = defaultdict(list)
        self.start: float | None = None
        self.end = 0.0

    def add(self, category: str, started: float) -> None:
        self.intervals[category].append((started, time.perf_counter()))


def _union(intervals: list[Interval], lo: float, hi: float) -> float:
    """Length of the union of ``intervals`` clipped to [lo, hi]."""
    total, reach = 0.0, lo
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, hi)
        if end > start:
            total += end - start
            reach = end
    return total


def _wrap(owner: Any, name: str, category: str, timings: Timings) -> Callable[[], None]:
    """Time every call of ``owner.name`` (sync or async) under ``category``; returns undo."""
    original = getattr(owner, name)
    if asyncio_function(original):
        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                timings.add(category, started)
    else:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings.add(category, started)
    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


def asyncio_function(fn: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


def instrument(timings: Timings) -> list[Callable[[], None]]:
    """Patch the loop's building blocks to record their time; returns the undo functions."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from evokd.core.rundir import RunDir
    from evokd.graph import nodes
    from evokd.student import Student
    from evokd.teacher import TeacherClient

    undo = [
        _wrap(nodes, "_train", "train", timings),
        _wrap(nodes, "_scores", "score", timings),
        _wrap(Student, "predict", "predict", timings),
        _wrap(TeacherClient, "ask", "llm", timings),
        _wrap(AsyncSqliteSaver, "aput", "checkpoint", timings),
        _wrap(AsyncSqliteSaver, "aput_writes", "checkpoint", timings),
        _wrap(RunDir, "append_trace", "trace", timings),
        _wrap(RunDir, "write_jsonl", "run files", timings),
        _wrap(RunDir, "publish_student", "run files", timings),
    ]
    analyst, assess = nodes.analyst, nodes.assess

    @functools.wraps(analyst)
    async def timed_analyst(state: Any, runtime: Any) -> Any:
        if timings.start is None:
            timings.start = time.perf_counter()
        return await analyst(state, runtime)

    @functools.wraps(assess)
    async def timed_assess(state: Any, runtime: Any) -> Any:
        try:
            return await assess(state, runtime)
        finally:
            timings.end = time.perf_counter()

    nodes.analyst, nodes.assess = timed_analyst, timed_assess
    undo.append(lambda: setattr(nodes, "analyst", analyst))
    undo.append(lambda: setattr(nodes, "assess", assess))
    return undo


def run_once(server: ServerProcess, work: Path, name: str, rounds: int, samples: int
             ) -> Timings:
    timings = Timings()
    undo = instrument(timings)
    try:
        code = cli.main([
            "--task", "conll03", "--rounds", str(rounds), "--samples-per-round", str(samples),
            "--patience", str(rounds + 1), "--base-url", server.base_url, "--model",
            server.model, "--student", str(work / "tiny"), "--data-dir", str(work / "data"),
            "--run-dir", str(work / name), "--train-steps", "5", "--round-steps", "5",
            "--quiet"])
    finally:
        for restore in reversed(undo):
            restore()
    if code != 0:
        raise SystemExit(f"the loop failed (exit {code})")
    return timings


def breakdown(timings: Timings, rounds: int) -> dict[str, float]:
    """Seconds per round: the round, the work inside it, and the overhead (split)."""
    lo, hi = timings.start or 0.0, timings.end
    out = {"round": (hi - lo) / rounds}
    covered: list[Interval] = []
    for category in WORK:
        out[category] = _union(timings.intervals[category], lo, hi) / rounds
        covered += timings.intervals[category]
    work = _union(covered, lo, hi)
    out["work"] = work / rounds
    for category in ("checkpoint", "trace", "run files"):
        covered += timings.intervals[category]
        extended = _union(covered, lo, hi)
        out[category] = (extended - work) / rounds  # time not already inside the work
        work = extended
    out["overhead"] = out["round"] - out["work"]
    out["other"] = (hi - lo - work) / rounds
    return out


def report(title: str, b: dict[str, float]) -> None:
    ms = {k: 1000 * v for k, v in b.items()}
    print(f"{title}: {ms['round']:.0f} ms per round; inside training {ms['train']:.0f}, scoring "
          f"{ms['score']:.0f}, predictions {ms['predict']:.0f}, LLM calls {ms['llm']:.0f} "
          f"(union {ms['work']:.0f})")
    print(f"  orchestration overhead {ms['overhead']:.0f} ms per round = "
          f"{b['overhead'] / b['round']:.2f} of the round: checkpoints {ms['checkpoint']:.0f}, "
          f"trace {ms['trace']:.0f}, run files {ms['run files']:.0f}, other (graph scheduling, "
          f"prompts, critic rules) {ms['other']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["EVOKD_CACHE_DIR"] = str(work / "cache")
        build_tiny_backbone(work / "tiny")
        copy_subset("conll03", work / "data", {"train": 300, "dev": 40, "test": 40})
        with ServerProcess(latency=0.0, responder="scripted") as server:
            os.environ["OPENAI_API_KEY"] = server.api_key
            first = run_once(server, work, "first", args.rounds, args.samples)
            calls = server.stats()["calls"]
            again = run_once(server, work, "rerun", args.rounds, args.samples)
            rerun_calls = server.stats()["calls"] - calls
        print(f"conll03, {args.rounds} rounds x {args.samples} samples, tiny student "
              "(5 steps), instant scripted teacher in its own process")
        report("first run", breakdown(first, args.rounds))
        report("cache rerun", breakdown(again, args.rounds))
        print(f"cache rerun: {rerun_calls} server calls (first run: {calls}) -> "
              f"{'OK' if rerun_calls == 0 else 'FAIL'}: a rerun must make none")
        if rerun_calls:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
