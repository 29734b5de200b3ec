"""LLM call rate achieved vs ideal (concurrency ÷ latency) against a local server.

Two measurements, side by side in one run, against the tests' OpenAI-compatible server with a
fixed latency:
1. client: N concurrent ``TeacherClient.ask`` calls (bounded by ``--max-concurrency``);
2. loop: one round of the real graph; the labeler fan-out's rate is read from trace.jsonl
   (from the ``gather`` node to the last labeler call), plus the round's token cost.

The server runs in a thread of the benchmark's process (``--server thread``: it shares the
client's GIL) or in a child process (``--server process``, bench/fake_server.py); ``both``
(default) measures each. The client measurement first sends ``--concurrency`` warm-up calls
(connections, first-call set-up), not counted.

    python bench/call_rate.py [--latency 0.5] [--concurrency 16] [--calls 128] [--server both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main as cli  # noqa: E402
from bench.fake_server import ServerProcess  # noqa: E402
from evokd.teacher import TeacherClient, TeacherSettings  # noqa: E402
from fakes.backbones import build_tiny_backbone  # noqa: E402
from fakes.data import copy_subset  # noqa: E402
from fakes.openai_server import FakeOpenAI  # noqa: E402
from fakes.scripted_teacher import reply  # noqa: E402


class Answer(BaseModel):
    """Any JSON object."""

    ok: bool = True


async def client_rate(server: Any, concurrency: int, calls: int) -> tuple[float, float]:
    """Calls/s achieved, and this process's CPU milliseconds per call."""
    settings = TeacherSettings(base_url=server.base_url, model=server.model,
                               api_key=server.api_key, max_concurrency=concurrency)
    async with TeacherClient(settings) as client:
        await asyncio.gather(*(
            client.ask("bench", [{"role": "user", "content": f"warm-up {i}"}], Answer, round_no=0)
            for i in range(concurrency)))
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(
            client.ask("bench", [{"role": "user", "content": f"call {i}"}], Answer, round_no=1)
            for i in range(calls)))
        return calls / (time.perf_counter() - started), (
            1000 * (time.process_time() - cpu) / calls)


def loop_rate(server: Any, concurrency: int, samples: int, work: Path) -> tuple[float, int]:
    backbone = work / "tiny"
    if not backbone.exists():
        build_tiny_backbone(backbone)
    data = copy_subset("conll03", work / "data", {"train": 300, "dev": 40, "test": 40})
    run_dir = work / f"run-{time.monotonic_ns()}"
    os.environ["OPENAI_API_KEY"] = server.api_key
    code = cli.main(["--task", "conll03", "--rounds", "1", "--samples-per-round", str(samples),
                     "--base-url", server.base_url, "--model", server.model, "--no-cache",
                     "--max-concurrency", str(concurrency), "--student", str(backbone),
                     "--data-dir", str(data), "--run-dir", str(run_dir), "--train-steps", "5",
                     "--round-steps", "5", "--quiet"])
    assert code == 0
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    start = next(e["ts"] for e in events if e.get("node") == "gather")
    labels = [e["ts"] for e in events if e["event"] == "llm_call" and e["role"] == "labeler"]
    tokens = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["tokens"]
    return len(labels) / (max(labels) - start), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--calls", type=int, default=128)
    parser.add_argument("--server", choices=["thread", "process", "both"], default="both",
                        help="where the fake server runs")
    parser.add_argument("--no-loop", action="store_true", help="client measurement only")
    args = parser.parse_args()
    ideal = args.concurrency / args.latency
    modes = ["thread", "process"] if args.server == "both" else [args.server]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EVOKD_CACHE_DIR"] = tmp
        for mode in modes:
            with _server(mode, "ok", args.latency) as server:
                achieved, cpu_ms = asyncio.run(client_rate(server, args.concurrency, args.calls))
                peak = _peak(server)
            cpu = (f", client CPU {cpu_ms:.2f} ms a call" if mode == "process"
                   else "")  # a server in a thread bills its CPU to this process too
            print(f"client, server in a {mode}: {args.calls} calls, concurrency "
                  f"{args.concurrency}, latency {args.latency}s: {achieved:.1f} calls/s vs ideal "
                  f"{ideal:.1f} -> ratio {achieved / ideal:.2f} (peak in flight {peak}){cpu}")
        for mode in [] if args.no_loop else modes:
            with _server(mode, "scripted", args.latency) as server:
                rate, tokens = loop_rate(server, args.concurrency, args.calls, Path(tmp))
                peak = _peak(server)
            print(f"loop labeler fan-out, server in a {mode}: {args.calls} texts: {rate:.1f} "
                  f"calls/s vs ideal {ideal:.1f} -> ratio {rate / ideal:.2f} (peak in flight "
                  f"{peak})")
        if not args.no_loop:
            print(f"tokens for one round of {args.calls} samples with the scripted teacher: "
                  f"{tokens:,}")


def _server(mode: str, responder: str, latency: float) -> Any:
    if mode == "process":
        return ServerProcess(latency=latency, responder=responder)
    answer = reply if responder == "scripted" else (lambda request: '{"ok": true}')
    return FakeOpenAI(answer, latency=latency)


def _peak(server: Any) -> int:
    return server.stats()["peak_in_flight"] if isinstance(server, ServerProcess) else (
        server.peak_in_flight)


if __name__ == "__main__":
    main()
