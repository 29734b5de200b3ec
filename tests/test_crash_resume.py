"""Crash and resume: ``python main.py`` killed again and again, then resumed to the end.

One run directory goes through a chain of interruptions, each in a fresh process against the
same local teacher: SIGKILL while LLM requests are in flight, Ctrl-C while they are (SIGINT: exit
130 and a resume hint, no traceback), SIGKILL while the student trains, and SIGKILLs at random
short delays after a node finished (when its checkpoint is being written). Each interruption is
timed by what the run has done, not by the clock, so a busy machine cannot let the run finish
before the signal that was meant for it. The last ``--resume`` must end with exactly the rounds
and accepted samples of the undisturbed reference run.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from evokd.core.rundir import RunDir
from fakes.data import read_jsonl
from fakes.scripted_teacher import reply
from tests.reliability import (
    ROUNDS,
    accepted,
    loop_args,
    metric_rounds,
    sample_keys,
    subprocess_env,
)

ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 240  # a cold interpreter importing torch on a busy machine


class Run:
    """One ``python main.py`` process with its output in files."""

    def __init__(self, args: list[str], folder: Path, name: str) -> None:
        self.out, self.err = folder / f"{name}.out", folder / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, stdout=out,
                stderr=err, env=subprocess_env(OPENAI_API_KEY="sk-test-fake-key"),
            )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = STARTUP_S
                 ) -> bool:
        """Poll ``condition``; False if the process ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.02)
        self.process.kill()
        raise AssertionError(f"timed out waiting for {what}; stderr: {self.err.read_text()}")

    def signal(self, signum: int) -> int:
        """Send ``signum`` (if still running) and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=STARTUP_S)

    def finish(self) -> int:
        return self.process.wait(timeout=STARTUP_S)


def _trace(run_dir: Path) -> list[str]:
    path = run_dir / "trace.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _new_event(run_dir: Path, since: int, event: str, node: str | None = None) -> bool:
    for line in _trace(run_dir)[since:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event and (node is None or record.get("node") == node):
            return True
    return False


@pytest.mark.slow
def test_killed_runs_resume_to_the_reference_result(
    reference_run, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai
) -> None:
    server = fake_openai(reply, latency=0.3)
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    fresh = loop_args(server.base_url, run_dir, tiny_backbone, tiny_data)
    resume = ["--resume", str(run_dir), "--quiet"]
    rng = random.Random(6)
    codes: list[tuple[str, int]] = []

    # 1. SIGKILL while LLM requests are in flight (round 1, between analyst and critic)
    run = Run(fresh, logs, "1-llm")
    run.wait_for(lambda: server.calls >= 6, "6 LLM requests")
    codes.append(("llm", run.signal(signal.SIGKILL)))
    assert (run_dir / "checkpoints.sqlite").exists()

    # 2. Ctrl-C while the resumed run's first request is in flight (still round 1, 0.3 s a
    # reply): exit 130, a resume hint, no traceback
    calls = server.calls
    run = Run(resume, logs, "2-sigint")
    run.wait_for(lambda: server.calls > calls, "a resumed LLM request")
    time.sleep(rng.uniform(0.0, 0.2))
    codes.append(("sigint", run.signal(signal.SIGINT)))
    err = run.err.read_text()
    assert codes[-1][1] == 130 and "Traceback" not in err, err
    assert f"interrupted; continue with: python main.py --resume {run_dir}" in err, err
    server.latency = 0.05

    # 3. SIGKILL while the student trains (right after the round's feedback node finished)
    since = len(_trace(run_dir))
    run = Run(resume, logs, "3-train")
    run.wait_for(lambda: _new_event(run_dir, since, "node", "feedback"), "a feedback node")
    codes.append(("train", run.signal(signal.SIGKILL)))

    # 4. SIGKILL at a random short delay after a node finished (its checkpoint being written)
    for attempt in range(1):
        since = len(_trace(run_dir))
        run = Run(resume, logs, f"4-random-{attempt}")
        if run.wait_for(lambda start=since: _new_event(run_dir, start, "node"), "a node"):
            time.sleep(rng.uniform(0.0, 0.05))
        codes.append((f"random-{attempt}", run.signal(signal.SIGKILL)))

    # 5. the last resume finishes the run
    run = Run(resume, logs, "5-finish")
    assert run.finish() == 0, run.err.read_text()
    assert "Traceback" not in run.err.read_text()
    assert [c for name, c in codes if name in ("llm", "train")] == [-signal.SIGKILL] * 2, codes

    assert metric_rounds(run_dir) == list(range(ROUNDS + 1))  # each round once, in order
    texts = Counter(s["text"] for s in accepted(run_dir))
    assert texts and max(texts.values()) == 1  # no sample twice
    assert sample_keys(run_dir) == sample_keys(reference_run.run_dir)  # none missing or extra
    assert (run_dir / "student" / "config.json").exists()
    tokens = [row["tokens"] for row in read_jsonl(run_dir / "metrics.jsonl")]
    assert tokens == sorted(tokens) and tokens[-1] >= reference_run.metrics[-1]["tokens"]
    lines = _trace(run_dir)
    broken = [i for i, line in enumerate(lines) if not _parses(line)]
    # a line cut by a SIGKILL is closed off; the resumed run's events start on a new line
    assert all(i + 1 < len(lines) and '"run_start"' in lines[i + 1] for i in broken), broken


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


# -- the run directory's own crash windows, without processes ----------------------------------


def test_a_publish_cut_between_its_two_renames_is_repaired_by_the_rerun(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    best, candidate = tmp_path / "best", tmp_path / "candidate"
    for folder, text in ((best, "old"), (candidate, "new")):
        folder.mkdir()
        (folder / "config.json").write_text(text)
    run_dir.publish_student(best)
    # killed after student/ moved to student.old, before student.new took its place
    (run_dir.path / "student").rename(run_dir.path / "student.old")
    shutil.copytree(candidate, run_dir.path / "student.new")
    run_dir.publish_student(candidate)  # the resumed run repeats the step
    assert (run_dir.student / "config.json").read_text() == "new"
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["student"]


def test_a_resumed_trace_starts_on_a_new_line_and_counts_earlier_tokens(tmp_path: Path) -> None:
    first = RunDir(tmp_path)
    first.append_trace({"event": "llm_call", "prompt_tokens": 7, "completion_tokens": 3})
    with first.trace.open("a", encoding="utf-8") as handle:  # a line cut by a SIGKILL
        handle.write('{"ts": 1, "event": "llm_call", "prompt_tokens": 5')
    resumed = RunDir(tmp_path)
    resumed.append_trace({"event": "run_start", "resume": True})
    resumed.append_trace({"event": "llm_call", "prompt_tokens": 1, "completion_tokens": 1})
    lines = first.trace.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and not _parses(lines[1]) and '"run_start"' in lines[2]
    assert resumed.traced_tokens() == 12


def _cut_checkpoints_after(db: Path, node: str) -> None:
    """Delete every checkpoint after the last one whose step runs ``node``: as if the process
    died once that step's tasks had finished (their writes are saved) but before the next
    checkpoint was written."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from evokd.graph.build import build_graph
    from evokd.graph.run import THREAD

    with SqliteSaver.from_conn_string(str(db)) as saver:
        graph = build_graph().compile(checkpointer=saver)
        history = list(graph.get_state_history(THREAD))
        step = next(s for s in history if s.next == (node,))  # newest first
        cut = step.config["configurable"]["checkpoint_id"]
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM checkpoints WHERE checkpoint_id > ?", (cut,))
        connection.execute("DELETE FROM writes WHERE checkpoint_id > ?", (cut,))


@pytest.mark.slow
def test_a_run_that_died_between_a_step_and_its_checkpoint_is_not_taken_as_finished(
    reference_run, tmp_path: Path, fake_openai, monkeypatch, no_loaded_students
) -> None:
    from evokd import main
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run.run_dir, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    server = fake_openai(reply)
    config.update(run_dir=str(run_dir), base_url=server.base_url)
    (run_dir / "config.json").write_text(json.dumps(config))
    _cut_checkpoints_after(run_dir / "checkpoints.sqlite", "feedback")  # the last round's
    # the files as that process left them: the last round is not recorded yet
    metrics, samples = reference_run.metrics[:-1], [s for s in reference_run.samples
                                                    if s["round"] < ROUNDS]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (run_dir / "synthetic.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake-key")

    assert main.main(["--resume", str(run_dir), "--quiet"]) == 0
    assert metric_rounds(run_dir) == list(range(ROUNDS + 1)), "the run went on"
    assert sample_keys(run_dir) == sample_keys(reference_run.run_dir)
    assert server.calls == 0  # the step's results came from the checkpoint's pending writes
