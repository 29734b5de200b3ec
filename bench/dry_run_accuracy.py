"""How close is ``--dry-run`` to what the run then spends? The estimate of a configuration
against the tokens the real run spends with a perfect teacher (bench/gold_teacher.py).

    python bench/dry_run_accuracy.py [--task conll03] [--rounds 1,3] [--samples 12] \
        [--seed 1] [--train-steps 10] [--data-dir DIR] [--out runs/dry-run-accuracy] \
        [any main.py flag after --]

For each round count: ``main.py --dry-run`` (timed), then the same flags as a real run against
a fresh gold teacher on the fake OpenAI server, which counts tokens as the dry run does (4
characters a token over the messages), so the comparison is of calls and prompts, not of a
tokenizer. ``--patience`` is the round count: the dry run counts every round (whether the
student gains dev F1 is not known before the run), so the real run must not stop early. The
runs use json_object output (the default): the fake server counts only the messages, where
json_object carries the schema, while the dry run also counts a schema sent beside them
(json_schema, function calling) as providers do. Prints, per run, the estimated and spent
tokens and calls, their ratio (estimate / actual) and the dry run's seconds; writes
OUT/dry_run_accuracy.json.

Measured (conll03, 1-shot, 12 samples a round, 10 training steps, seed 1): 1 round estimated
15,996 tokens in 18 calls, spent 17,719 in 19 (0.903); 3 rounds estimated 55,935 in 56 calls,
spent 57,931 in 56 (0.966), with hard requests quoting mistakes (``--quote-errors auto``; the
stand-in student quotes none in round 1). With ``-- --quote-errors 0``: 0.978 and 0.980.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gold_teacher import GoldTeacher  # noqa: E402
from evokd.graph.estimate import approx_tokens  # noqa: E402
from fakes.openai_server import FakeOpenAI  # noqa: E402

TOTAL = re.compile(r"^total\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)", re.M)


def _flags(args: argparse.Namespace, rounds: int, run_dir: Path, server: FakeOpenAI
           ) -> list[str]:
    return ["--task", args.task, "--seed", str(args.seed), "--k-shot", "1", "--rounds",
            str(rounds), "--patience", str(rounds), "--samples-per-round", str(args.samples),
            "--train-steps",
            str(args.train_steps), "--base-url", server.base_url, "--model", server.model,
            "--no-cache", "--quiet", "--run-dir", str(run_dir),
            *(["--data-dir", args.data_dir] if args.data_dir else []), *args.passthrough]


def _main_py(flags: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run main.py with ``flags``; its stdout and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *flags], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)
    return done.stdout, time.perf_counter() - started


def measure(args: argparse.Namespace, rounds: int) -> dict[str, Any]:
    """Dry run and real run of one configuration."""
    run_dir = Path(args.out) / f"rounds-{rounds}"
    shutil.rmtree(run_dir, ignore_errors=True)
    gold = GoldTeacher.for_run(args.task, args.data_dir, 1, args.seed)
    with FakeOpenAI(gold, count_tokens=approx_tokens) as server:
        env = {**os.environ, "OPENAI_API_KEY": server.api_key}
        out, dry_s = _main_py([*_flags(args, rounds, run_dir, server), "--dry-run"], env)
        total = TOTAL.search(out)
        if total is None or server.calls:
            raise SystemExit(f"unexpected dry run (server calls {server.calls}):\n{out}")
        estimate_calls = int(total.group(1))
        estimate = int(total.group(4).replace(",", ""))
        print(out, flush=True)
        _, run_s = _main_py(_flags(args, rounds, run_dir, server), env)
    calls = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    calls = [e for e in calls if e.get("event") == "llm_call"]
    spent = sum(e["prompt_tokens"] + e["completion_tokens"] for e in calls)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["tokens"] == spent, (metrics[-1]["tokens"], spent)
    return {"rounds": rounds, "estimate": estimate, "actual": spent, "ratio": estimate / spent,
            "estimate_calls": estimate_calls, "actual_calls": len(calls),
            "dry_run_s": round(dry_s, 1), "run_s": round(run_s), "run_dir": str(run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="conll03")
    parser.add_argument("--rounds", default="1,3", help="round counts, comma-separated")
    parser.add_argument("--samples", type=int, default=12, help="--samples-per-round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--data-dir", default=os.environ.get("EVOKD_DATA_DIR"))
    parser.add_argument("--out", default="runs/dry-run-accuracy")
    parser.add_argument("passthrough", nargs="*", help="main.py flags (after --)")
    args = parser.parse_args()
    rows = [measure(args, int(r)) for r in args.rounds.split(",")]
    print("rounds  estimate    actual   ratio   calls est/actual   dry run s   run s")
    for row in rows:
        print(f"{row['rounds']:>6}  {row['estimate']:>8,}  {row['actual']:>8,}  "
              f"{row['ratio']:>6.3f}   {row['estimate_calls']:>6} / {row['actual_calls']:<6}"
              f"   {row['dry_run_s']:>9}   {row['run_s']:>5}")
    Path(args.out, "dry_run_accuracy.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
