"""Is each EvoKD sample worth more than a generic one? The loop against its static baseline at
equal tokens and against random gold data, with a perfect teacher (bench/gold_teacher.py).

    python bench/data_efficiency.py --task conll03 --seeds 1-3 --out runs/efficiency-conll03 \
        [--rounds 4 --samples 50 --twice] [--data-dir DIR] [any main.py flag after --]

For each seed, against a fresh gold teacher each time:
- ``evokd``: ``main.py`` with the loop (1-shot, json_schema output, everything else default);
- ``static``: ``--strategy static`` given EvoKD's token spend as ``--budget-tokens`` and more
  rounds, so the budget ends it (equal tokens);
- ``random-N``: the seed set + N random gold train sentences (N = the samples EvoKD kept; not
  seed examples), trained once from the backbone with the seed student's recipe
  (``--train-steps`` steps, batch 16); ``--twice`` adds ``random-2N`` (the aim: targeting
  halves the data a random teacher needs);
- ``pool-once``: the seed set + exactly the samples EvoKD kept, trained once the same way.

Prints, per seed and as mean ± std (and the standard error of the EvoKD − static difference),
test F1 (accuracy for classification) of the delivered students and of the yardsticks, kept
samples, teacher tokens and F1 points per 1k tokens. Writes OUT/efficiency.json, which keeps the
rows of seeds measured by earlier invocations into the same OUT (``--seeds 5`` after
``--seeds 1-4`` prints the table of all five). A rerun skips finished runs and yardsticks
(unfinished runs start again).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.comparisons import mean_pm, seeds_parser  # noqa: E402
from bench.fake_server import ServerProcess  # noqa: E402
from bench.static_vs_evokd import EXTRA_STATIC_ROUNDS, _finished, _metrics  # noqa: E402
from evokd.core.rundir import best_row  # noqa: E402


def _score(row: dict[str, Any], kind: str) -> float:
    """The reported figure of a metrics row or yardstick: test F1, accuracy for classification."""
    return float(row["test_accuracy"] if kind == "cls" else row["test_f1"])


def run_loop(args: argparse.Namespace, seed: int, strategy: str, run_dir: Path,
             extra: list[str]) -> dict[str, Any]:
    """One ``main.py`` run against a fresh gold teacher (skipped when already finished)."""
    if not _finished(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        gold = (args.task, args.data_dir, 1, seed)
        with ServerProcess(responder="gold", gold=gold) as server:
            cmd = [sys.executable, str(ROOT / "main.py"), "--task", args.task, "--seed",
                   str(seed), "--k-shot", "1", "--rounds", str(args.rounds),
                   "--samples-per-round", str(args.samples), "--structured-method",
                   "json_schema", "--base-url", server.base_url, "--model", server.model,
                   "--no-cache", "--quiet", "--strategy", strategy, "--run-dir", str(run_dir),
                   *(["--data-dir", args.data_dir] if args.data_dir else []), *extra,
                   *args.passthrough]
            print("$", " ".join(cmd[1:]), flush=True)
            env = {**os.environ, "OPENAI_API_KEY": server.api_key}
            started = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
            (run_dir / "wall_s.txt").write_text(f"{time.perf_counter() - started:.0f}\n")
    metrics = _metrics(run_dir)
    best = best_row(metrics)
    wall = run_dir / "wall_s.txt"
    return {"seed_score": metrics[0], "best": best, "tokens": metrics[-1]["tokens"],
            "kept": sum(r.get("kept", 0) for r in metrics), "rounds": metrics[-1]["round"],
            "wall_s": int(wall.read_text()) if wall.exists() else None}


def yardstick(args: argparse.Namespace, seed: int, name: str, extra: list[dict[str, Any]],
              out: Path) -> dict[str, Any]:
    """Seed set + ``extra`` trained once from the backbone; test and dev scores (cached)."""
    path = out / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    from evokd.student import DEFAULT_STUDENT, Student, TrainSettings
    from evokd.student.hardware import DEFAULT_MAX_LENGTH, resolve_hardware
    from evokd.tasks import load_task_data, resolve_data_dir, resolve_task
    from evokd.tasks.sampler import seed_examples

    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    data = load_task_data(spec)
    seeds = seed_examples(spec, data, 1, seed)
    hardware = resolve_hardware("auto", "auto", DEFAULT_MAX_LENGTH[spec.kind])
    student = Student.create(spec, DEFAULT_STUDENT, seed, hardware)
    started = time.perf_counter()
    student.train(seeds + extra, TrainSettings(min_steps=args.train_steps, seed=seed * 1000))
    dev = student.evaluate(data.dev)
    test = student.evaluate(data.test) if data.test else dev
    result = {"name": name, "n": len(extra), "dev_f1": dev["f1"], "test_f1": test["f1"],
              "dev_accuracy": dev.get("accuracy"), "test_accuracy": test.get("accuracy"),
              "wall_s": round(time.perf_counter() - started)}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result) + "\n")
    return result


def random_gold(args: argparse.Namespace, seed: int, n: int) -> list[dict[str, Any]]:
    """``n`` random train examples that are not in the seed set (seeded)."""
    from evokd.samples.rules import text_key
    from evokd.tasks import load_task_data, resolve_data_dir, resolve_task
    from evokd.tasks.sampler import seed_examples

    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    data = load_task_data(spec)
    taken = {text_key(spec.example_text(s)) for s in seed_examples(spec, data, 1, seed)}
    pool = [ex for ex in data.train if text_key(spec.example_text(ex)) not in taken]
    return random.Random(seed * 7919 + n).sample(pool, min(n, len(pool)))


def one_seed(args: argparse.Namespace, seed: int, kind: str) -> dict[str, Any]:
    """Every figure of one seed."""
    evokd_dir = args.out / "evokd" / f"seed-{seed}"
    evokd = run_loop(args, seed, "evokd", evokd_dir, [])
    rounds = str(args.rounds + EXTRA_STATIC_ROUNDS)
    static = run_loop(args, seed, "static", args.out / "static" / f"seed-{seed}",
                      ["--budget-tokens", str(max(evokd["tokens"], 1)), "--rounds", rounds,
                       "--patience", rounds])
    pool = [json.loads(line) for line in (evokd_dir / "synthetic.jsonl").read_text()
            .splitlines() if line]
    keys = ("tokens", "tags") if kind == "ner" else ("text", "label")
    pool = [{k: s[k] for k in keys} for s in pool]
    n = len(pool)
    marks = args.out / "yardsticks" / f"seed-{seed}"
    row: dict[str, Any] = {
        "seed": seed, "n": n, "seed_student": _score(evokd["seed_score"], kind),
        "evokd": _score(evokd["best"], kind), "evokd_round": evokd["best"]["round"],
        "evokd_tokens": evokd["tokens"], "evokd_wall_s": evokd["wall_s"],
        "static": _score(static["best"], kind), "static_kept": static["kept"],
        "static_tokens": static["tokens"], "static_rounds": static["rounds"],
        "random_n": _score(yardstick(args, seed, f"random-{n}", random_gold(args, seed, n),
                                     marks), kind),
        "pool_once": _score(yardstick(args, seed, "pool-once", pool, marks), kind),
    }
    if args.twice:
        row["random_2n"] = _score(yardstick(args, seed, f"random-{2 * n}",
                                            random_gold(args, seed, 2 * n), marks), kind)
    return row


def merge_rows(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows already in ``path`` (other seeds) with ``rows`` replacing theirs, by seed;
    written back to ``path``."""
    old = json.loads(path.read_text()) if path.exists() else []
    fresh = {row["seed"] for row in rows}
    merged = sorted([r for r in old if r["seed"] not in fresh] + rows, key=lambda r: r["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def _pm(values: list[float]) -> str:
    return mean_pm(values, 1)


def table(rows: list[dict[str, Any]], twice: bool) -> str:
    """Markdown: one line per seed, then mean ± std."""
    cols = ["seed student", "EvoKD", "static (equal tokens)", "random-N", *(
        ["random-2N"] if twice else []), "pool once", "EvoKD − static", "EvoKD − random-N",
        "N (static kept)", "tokens EvoKD / static", "EvoKD F1 pts per 1k tokens"]
    keys = ["seed_student", "evokd", "static", "random_n", *(["random_2n"] if twice else []),
            "pool_once"]
    lines = ["| seed | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        gain = 100 * (r["evokd"] - r["seed_student"]) / max(r["evokd_tokens"] / 1000, 1e-9)
        lines.append(
            f"| {r['seed']} | " + " | ".join(f"{100 * r[k]:.1f}" for k in keys)
            + f" | {100 * (r['evokd'] - r['static']):+.1f} | "
            f"{100 * (r['evokd'] - r['random_n']):+.1f} | {r['n']} ({r['static_kept']}) | "
            f"{r['evokd_tokens'] / 1000:.1f}k / {r['static_tokens'] / 1000:.1f}k | "
            f"{gain:.2f} |")
    if len(rows) > 1:
        diff = [r["evokd"] - r["static"] for r in rows]
        se = statistics.stdev(diff) / len(diff) ** 0.5
        lines.append(
            "| mean ± std | " + " | ".join(_pm([r[k] for r in rows]) for k in keys)
            + f" | {100 * statistics.fmean(diff):+.1f} (SE {100 * se:.1f}) | "
            f"{100 * statistics.fmean(r['evokd'] - r['random_n'] for r in rows):+.1f} | "
            f"{statistics.fmean(r['n'] for r in rows):.0f} | "
            f"{statistics.fmean(r['evokd_tokens'] for r in rows) / 1000:.1f}k / "
            f"{statistics.fmean(r['static_tokens'] for r in rows) / 1000:.1f}k | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = seeds_parser(__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--train-steps", type=int, default=300,
                        help="yardstick training steps (the seed student's recipe)")
    parser.add_argument("--twice", action="store_true", help="also the random-2N yardstick")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("passthrough", nargs="*", help="main.py flags after --")
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    from evokd.tasks import resolve_data_dir, resolve_task

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    kind = resolve_task(args.task, resolve_data_dir(args.data_dir)).kind
    rows = []
    for seed in args.seeds:
        rows.append(one_seed(args, seed, kind))
        print(table(rows[-1:], args.twice), flush=True)
    rows = merge_rows(args.out / "efficiency.json", rows)
    print(f"\n{args.task}, 1-shot, {args.rounds} rounds x {args.samples} samples, gold teacher; "
          f"test {'accuracy' if kind == 'cls' else 'F1'} in %:")
    print(table(rows, args.twice))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
