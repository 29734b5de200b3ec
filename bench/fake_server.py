"""The tests' fake OpenAI-compatible server in a process of its own, for benchmarks.

With the server in the benchmark's own process, its request handling competes with the client
for one GIL and the measured rate says as much about the server as about the client. Here it
runs in a child process::

    with ServerProcess(latency=0.5, responder="scripted") as server:
        ... server.base_url, server.model, server.api_key ...
        server.stats()  # {"calls": N, "peak_in_flight": K}

``responder="gold"`` answers as the perfect teacher of bench/gold_teacher.py for
``gold=(task, data_dir, k_shot, seed)``; a fifth item, a JSONL path, makes it follow what a
request shows (its quoted mistakes or examples) and log each answer's similarity there.

Child protocol (``python bench/fake_server.py --latency S --responder ok|scripted|gold``): prints
``PORT <n>`` once serving; answers each ``stats`` line on stdin with one JSON line; exits when
stdin closes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESPONDERS = ("ok", "scripted", "gold")


class ServerProcess:
    """A FakeOpenAI server running in a child process (context manager)."""

    def __init__(self, latency: float = 0.0, responder: str = "scripted",
                 gold: tuple[Any, ...] | None = None) -> None:
        if responder not in RESPONDERS:
            raise ValueError(f"responder must be one of {RESPONDERS}")
        if (responder == "gold") != (gold is not None):
            raise ValueError("the gold responder needs gold=(task, data_dir, k_shot, seed"
                             "[, follow_log])")
        self.latency, self.responder, self.gold = latency, responder, gold
        self.model, self.api_key = "fake-model", "sk-test-fake-key"
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ServerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--latency", str(self.latency),
             "--responder", self.responder,
             *(["--gold", json.dumps(self.gold)] if self.gold is not None else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line.startswith("PORT "):
            self._proc.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stats(self) -> dict[str, Any]:
        """``{"calls", "peak_in_flight"}`` so far."""
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write("stats\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None


def _child(latency: float, responder: str, gold: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.gold_teacher import GoldTeacher
    from fakes.openai_server import FakeOpenAI
    from fakes.scripted_teacher import reply

    answer = (reply if responder == "scripted" else GoldTeacher.for_run(*json.loads(gold or "[]"))
              if responder == "gold" else (lambda request: '{"ok": true}'))
    server = FakeOpenAI(answer, latency=latency).start()
    print(f"PORT {server.port}", flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps({"calls": server.calls, "peak_in_flight": server.peak_in_flight}),
                  flush=True)
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="fake OpenAI server for benchmarks")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--responder", choices=RESPONDERS, default="scripted")
    parser.add_argument("--gold", default=None, help="JSON [task, data_dir, k_shot, seed]")
    args = parser.parse_args()
    _child(args.latency, args.responder, args.gold)
