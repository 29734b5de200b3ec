"""evokd's Python API: the same run as ``python main.py``, from Python.

    import evokd

    result = evokd.distill(task="tickets.yaml", rounds=2, samples_per_round=8,
                           base_url="http://localhost:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    print(result.run_dir, result.dev_f1, result.test_f1)

Settings are the fields of ``graph.config.RunConfig``: the command-line flags with ``_`` for
``-`` (``samples_per_round=8``, ``cache=False``, ``reviewer=True``, ``k_shot="all"``); the API
key comes from ``OPENAI_API_KEY`` as for the CLI. Bad input raises :class:`UserError` (its
message is the CLI's one line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evokd.core.errors import UserError

__all__ = ["DistillResult", "UserError", "distill"]


@dataclass(frozen=True)
class DistillResult:
    """A finished run: where its outputs are and the best student's scores (fractions, 0-1)."""

    run_dir: Path
    best_round: int
    dev_f1: float
    test_f1: float | None  # None for a task without a test split
    test_accuracy: float | None  # classification only
    tokens: int
    stop_reason: str
    metrics: list[dict[str, Any]]


def distill(task: str | os.PathLike[str] | None = None, **settings: Any) -> DistillResult:
    """Run the EvoKD loop on ``task`` (a built-in name or a task file) and return the result.

    Synchronous: it returns when the run has finished. ``distill(resume=RUN_DIR)`` continues
    a stopped run (no task needed)."""
    from evokd import main
    from evokd.core.settings import api_flags
    from evokd.graph.config import LOCAL_PRESET, setting_classes

    if "seeds" in settings:
        raise UserError("distill runs one seed; call it once per seed (seed=N)")
    if "task" in settings:
        raise UserError("pass the task once, as distill's first argument")
    parser = main.build_parser()
    parser.raise_errors = True
    task_flag = [] if task is None else ["--task", os.fspath(task)]
    args = parser.parse_args(task_flag + api_flags(settings, setting_classes(), LOCAL_PRESET))
    config, data = main.prepare(args)
    result = main.run_once(args, config, data)
    best = max(result.metrics, key=lambda r: (r["dev_f1"], -r["round"]))
    return DistillResult(
        run_dir=Path(result.run_dir), best_round=best["round"], dev_f1=best["dev_f1"],
        test_f1=best.get("test_f1"), test_accuracy=best.get("test_accuracy"),
        tokens=result.tokens, stop_reason=result.stop_reason, metrics=result.metrics,
    )
