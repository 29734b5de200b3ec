"""EvoKD against the static baseline at the same token cost, over several seeds.

    python bench/static_vs_evokd.py --task conll04 --seeds 1-3 --out runs/compare-conll04 \
        [any main.py flag, e.g. --rounds 2 --samples-per-round 8]

For each seed: ``main.py --strategy evokd`` first, then ``--strategy static`` with
``--budget-tokens`` set to the tokens that EvoKD run spent and more rounds allowed, so the budget
(not the round count or patience) ends the baseline. Writes OUT/evokd/seed-N, OUT/static/seed-N,
OUT/compare.html (every run on one report) and OUT/comparison.json, and prints a Markdown table
for BENCHMARKS.md. A rerun resumes unfinished runs and skips finished ones.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.comparisons import mean_pm, seeds_parser  # noqa: E402
from evokd.core.rundir import best_row  # noqa: E402

EXTRA_STATIC_ROUNDS = 3


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _finished(run_dir: Path) -> bool:
    trace = run_dir / "trace.jsonl"
    return trace.exists() and '"event": "run_end"' in trace.read_text(encoding="utf-8")


def _run(args: list[str], run_dir: Path) -> float:
    """Run main.py (resuming a stopped run); returns wall seconds (0 when already finished)."""
    if _finished(run_dir):
        return 0.0
    cmd = [sys.executable, str(ROOT / "main.py")]
    cmd += ["--resume", str(run_dir)] if (run_dir / "config.json").exists() else args
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - started


def _row(strategy: str, seed: int, run_dir: Path, wall_s: float) -> dict[str, Any]:
    metrics = _metrics(run_dir)
    best = best_row(metrics)
    return {"strategy": strategy, "seed": seed, "run_dir": str(run_dir), "wall_s": round(wall_s),
            "seed_test_f1": metrics[0]["test_f1"], "best_round": best["round"],
            "dev_f1": best["dev_f1"], "test_f1": best["test_f1"], "tokens": metrics[-1]["tokens"],
            "kept": sum(r.get("kept", 0) for r in metrics),
            "dropped": sum(r.get("dropped", 0) for r in metrics),
            "rounds_done": metrics[-1]["round"]}


def _pm(values: list[float]) -> str:
    return mean_pm(values, 2)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per strategy (mean ± sample std over seeds)."""
    lines = ["| strategy | seeds | seed-student test F1 | best test F1 | best dev F1 | "
             "teacher tokens (mean) | samples kept / generated | rounds |",
             "|---|---|---|---|---|---|---|---|"]
    for strategy in ("evokd", "static"):
        mine = [r for r in rows if r["strategy"] == strategy]
        if not mine:
            continue
        kept, dropped = sum(r["kept"] for r in mine), sum(r["dropped"] for r in mine)
        cells = [strategy, ",".join(str(r["seed"]) for r in mine),
                 *(_pm([r[key] for r in mine]) for key in ("seed_test_f1", "test_f1", "dev_f1")),
                 f"{statistics.fmean(r['tokens'] for r in mine):,.0f}",
                 f"{kept} / {kept + dropped}", "/".join(str(r["rounds_done"]) for r in mine)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = seeds_parser(__doc__.split("\n")[0])
    args, passthrough = parser.parse_known_args(argv)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        common = ["--task", args.task, "--seed", str(seed), "--quiet", *passthrough]
        evokd_dir = args.out / "evokd" / f"seed-{seed}"
        wall = _run([*common, "--strategy", "evokd", "--run-dir", str(evokd_dir)], evokd_dir)
        rows.append(_row("evokd", seed, evokd_dir, wall))
        budget = rows[-1]["tokens"]
        evokd_rounds = json.loads((evokd_dir / "config.json").read_text())["rounds"]
        static_dir = args.out / "static" / f"seed-{seed}"
        rounds = str(evokd_rounds + EXTRA_STATIC_ROUNDS)  # the budget, not patience, ends it
        wall = _run([*common, "--strategy", "static", "--budget-tokens", str(max(budget, 1)),
                     "--rounds", rounds, "--patience", rounds, "--run-dir", str(static_dir)],
                    static_dir)
        rows.append(_row("static", seed, static_dir, wall))
    runs = [r["run_dir"] for r in rows]
    subprocess.run([sys.executable, str(ROOT / "main.py"), "report", *runs,
                    "--out", str(args.out / "compare.html")], check=True, cwd=ROOT)
    (args.out / "comparison.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    print(f"per run: {args.out / 'comparison.json'}; report: {args.out / 'compare.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
