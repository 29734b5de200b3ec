"""evokd's Python API: the same run as ``python main.py``, from Python.

    import evokd

    result = evokd.distill(task="tickets.yaml", rounds=2, samples_per_round=8,
                           base_url="http://localhost:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    print(result.run_dir, result.dev_f1, result.test_f1)

Settings are the fields of ``evokd.graph.config.RunConfig``: the command-line flags with ``_`` for
``-`` (``samples_per_round=8``, ``cache=False``, ``reviewer=True``, ``k_shot="all"``); the API
key comes from ``OPENAI_API_KEY`` as for the CLI. Each keyword is checked as its flag is: bad
input raises :class:`UserError` (one line, as the CLI prints it), a keyword that is no setting a
``TypeError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evokd.core.errors import UserError
from evokd.core.rundir import best_row
from evokd.core.settings import keyword_values

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
    a stopped run (no task needed). A keyword that is no setting is a TypeError naming it."""
    from evokd import main
    from evokd.graph.config import Command, setting_classes

    if "seeds" in settings:
        raise UserError("distill runs one seed; call it once per seed (seed=N)")
    if "task" in settings:
        raise UserError("pass the task once, as distill's first argument")
    if settings.get("dry_run"):
        raise UserError("distill runs the loop; for a dry run use: python main.py ... --dry-run")
    values = keyword_values(settings, setting_classes(), caller="distill")
    command = Command(**{f.name: values.pop(f.name) for f in fields(Command)
                         if f.name in values})
    if task is not None:
        values["task"] = os.fspath(task)
    config, data = main.prepare(values, command)
    result = main.run_once(config, data, command)
    best = best_row(result.metrics)
    return DistillResult(
        run_dir=Path(result.run_dir), best_round=best["round"], dev_f1=best["dev_f1"],
        test_f1=best.get("test_f1"), test_accuracy=best.get("test_accuracy"),
        tokens=result.tokens, stop_reason=result.stop_reason, metrics=result.metrics,
    )
