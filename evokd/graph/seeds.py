"""Several seeds of one configuration (``--seeds 1-5``): runs, summary.json, mean ± std.

Each seed runs into ``<run-dir>/seed-N`` (the k-shot draw, training and the LLM ``seed`` all
follow it). Rerunning the same command keeps finished seeds and resumes stopped ones. The
summary holds each seed's best student (by dev F1) and the mean and standard deviation (sample
std, n-1; 0 for one seed) of its test scores, as the paper reports them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evokd.graph.checkpoints import verify_checkpoints
from evokd.graph.config import RunConfig
from evokd.graph.resume import resumed_config
from evokd.graph.run import RunResult, run_loop
from evokd.graph.rundir import RunDir, full_disk_is_user_error
from evokd.tasks import UserError

SUMMARY_NAME = "summary.json"


def seed_config(config: RunConfig, seed: int) -> RunConfig:
    """The configuration of one seed: same settings, its own seed and run directory."""
    return dataclasses.replace(config, seed=seed,
                               run_dir=str(Path(config.run_dir) / f"seed-{seed}"))


def best_row(metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The metrics row of the best student (highest dev F1, earliest round on ties)."""
    return max(metrics, key=lambda r: (r["dev_f1"], -r["round"]))


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
    run_dir = Path(config.run_dir)
    stored = RunConfig.from_file(run_dir / "config.json")
    changes = {f.name: getattr(config, f.name) for f in dataclasses.fields(RunConfig)
               if getattr(config, f.name) != getattr(stored, f.name)}
    if Path(changes.get("data_dir", stored.data_dir)).resolve() == Path(stored.data_dir).resolve():
        changes.pop("data_dir", None)
    resumed = resumed_config(stored, changes, run_dir,
                             {name: True for name in config.roles if not stored.role_on(name)}
                             | {name: False for name in stored.roles if not config.role_on(name)})
    verify_checkpoints(RunDir(run_dir).checkpoints)
    return resumed


def _run_one(config: RunConfig, api_key: str, show_progress: bool) -> RunResult:
    from evokd.teacher import TeacherUnavailable

    run_dir = RunDir(Path(config.run_dir))
    with run_dir.lock(), full_disk_is_user_error("the same command again"):
        resume = run_dir.checkpoints.exists()
        if resume:
            config = resumed_seed(config)
        try:
            return asyncio.run(run_loop(config, resume=resume, api_key=api_key,
                                        show_progress=show_progress))
        except TeacherUnavailable as exc:
            raise UserError(f"{exc}; seed {config.seed} stopped; rerun the same command to "
                            "resume") from None


def run_seeds(
    config: RunConfig,
    seeds: Sequence[int],
    *,
    api_key: str,
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
        result = _run_one(one, api_key, show_progress)
        if per_run is not None:
            per_run(result)
        results.append((seed, result))
    summary = summarise(config, results)
    out = Path(config.run_dir) / SUMMARY_NAME
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    from evokd.inspection.report import write_report

    try:
        page = write_report([r.run_dir for _, r in results],
                            Path(config.run_dir) / "compare.html")
    except Exception as exc:  # drawing must never fail the runs
        print(f"evokd: compare.html not written: {type(exc).__name__}: {exc}")
        page = None
    for line in summary_lines(summary):
        print(line)
    print(f"summary: {out}" + (f"; report: {page}" if page else ""))
    return 0
