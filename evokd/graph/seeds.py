"""Several seeds of one configuration (``--seeds 1-5``): runs, summary.json, mean ± std.

Each seed runs into ``<run-dir>/seed-N`` (the k-shot draw, training and the LLM ``seed`` all
follow it). Rerunning the same command keeps finished seeds and resumes stopped ones. The
summary holds each seed's best student (by dev F1) and the mean and standard deviation (sample
std, n-1; 0 for one seed) of its test scores, as the paper reports them.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evokd.core.rundir import RunDir, best_row, full_disk_is_user_error
from evokd.graph.checkpoints import verify_checkpoints
from evokd.graph.config import RunConfig
from evokd.graph.resume import resumed_config
from evokd.graph.run import RunResult, run_one


def seed_config(config: RunConfig, seed: int) -> RunConfig:
    """The configuration of one seed: same settings, its own seed and run directory."""
    return dataclasses.replace(config, seed=seed,
                               run_dir=str(RunDir(config.run_dir).seed(seed).path))


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarise(config: RunConfig, results: Sequence[tuple[int, RunResult]]) -> dict[str, Any]:
    """summary.json's content: per-seed best scores and their mean and std."""
    kind = config.spec.kind
    keys = ["test_f1", "dev_f1"] + (["test_accuracy"] if kind == "cls" else [])
    runs = []
    for seed, result in results:
        best = best_row(result.metrics)
        runs.append({"seed": seed, "run_dir": str(result.run_dir), "best_round": best["round"],
                     **{k: best[k] for k in keys if k in best}, "tokens": result.tokens,
                     "rounds_done": result.metrics[-1]["round"],
                     "stop_reason": result.stop_reason})
    return {
        "task": config.task, "kind": kind, "strategy": config.strategy,
        "seeds": [seed for seed, _ in results],
        "config": {k: v for k, v in dataclasses.asdict(config).items()
                   if k not in ("seed", "run_dir")},
        "runs": runs,
        **{k: _mean_std([r[k] for r in runs]) for k in keys
           if all(r.get(k) is not None for r in runs)},
        "std_kind": "sample standard deviation (n-1); 0 for one seed",
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Mean ± std lines as printed (in %), headline first."""
    n = len(summary["seeds"])

    def fmt(key: str) -> str:
        return f"{100 * summary[key]['mean']:.2f} ± {100 * summary[key]['std']:.2f}"

    if "test_f1" not in summary:  # a task without a test split
        return [f"dev F1 over {n} seeds: {fmt('dev_f1')} (no test split)"]

    if summary["kind"] == "cls":
        return [f"test accuracy over {n} seeds: {fmt('test_accuracy')}",
                f"test macro-F1 over {n} seeds: {fmt('test_f1')}"]
    return [f"test F1 over {n} seeds: {fmt('test_f1')}"]


def resumed_seed(config: RunConfig) -> RunConfig:
    """The stored config of a seed's stopped run, with what this command changes applied (or
    refused by name, see graph/resume.py); its checkpoints are checked first."""
    run_dir = RunDir(config.run_dir)
    stored = RunConfig.from_run_dir(run_dir)
    changes = {f.name: getattr(config, f.name) for f in dataclasses.fields(RunConfig)
               if getattr(config, f.name) != getattr(stored, f.name)}
    if Path(changes.get("data_dir", stored.data_dir)).resolve() == Path(stored.data_dir).resolve():
        changes.pop("data_dir", None)
    resumed = resumed_config(stored, changes, run_dir.path,
                             {name: True for name in config.roles if not stored.role_on(name)}
                             | {name: False for name in stored.roles if not config.role_on(name)})
    verify_checkpoints(run_dir.checkpoints)
    return resumed


def _run_seed(config: RunConfig, show_progress: bool) -> RunResult:
    """Run one seed: a new run, or the stopped run already in its directory resumed (what this
    command changes applied or refused); one process at a time per seed directory."""
    run_dir = RunDir(config.run_dir)
    with run_dir.lock(), full_disk_is_user_error("the same command again"):
        resume = run_dir.holds_run()
        if resume:
            config = resumed_seed(config)
        return run_one(config, resume=resume, show_progress=show_progress,
                       hint=f"seed {config.seed} stopped; rerun the same command to resume")


def run_seeds(
    config: RunConfig,
    seeds: Sequence[int],
    *,
    show_progress: bool = True,
    per_run: Callable[[RunResult], None] | None = None,
) -> int:
    """Run ``config`` once per seed (``per_run`` prints each result), write summary.json and
    compare.html (every seed on one report), print mean ± std; returns exit code 0."""
    results: list[tuple[int, RunResult]] = []
    RunDir(Path(config.run_dir)).create()  # 0700: compare.html holds the seeds' samples
    for seed in seeds:
        one = seed_config(config, seed)
        print(f"== seed {seed}: {one.run_dir}", flush=True)
        result = _run_seed(one, show_progress)
        if per_run is not None:
            per_run(result)
        results.append((seed, result))
    summary = summarise(config, results)
    run_dir = RunDir(config.run_dir)
    out = run_dir.summary
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    from evokd.inspection.report import write_report

    try:
        page = write_report([r.run_dir for _, r in results], run_dir.compare)
    except Exception as exc:  # drawing must never fail the runs
        print(f"evokd: compare.html not written: {type(exc).__name__}: {exc}")
        page = None
    for line in summary_lines(summary):
        print(line)
    print(f"summary: {out}" + (f"; report: {page}" if page else ""))
    return 0
