"""A finished run as the report reads it: its run log (``runlog``) plus every row of
metrics.jsonl, checked strictly (config.json and metrics.jsonl are required; a malformed line
is a one-line UserError naming it), and the counts the report's plots and tables show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evokd.core.errors import UserError
from evokd.core.rundir import JsonDict, RunDir, best_row, read_object
from evokd.inspection.runlog import RoleCalls, RunLog, load_run

ABLATIONS = (("easy", "no-easy"), ("correct", "no-correct"), ("history", "no-history"),
             ("separate_labeling", "no-separate-labeling"), ("critic", "no-critic"))
OLD_KEYS = {"correct": "correct_samples"}  # config.json of runs before the settings rename
METRIC_KEYS = ("round", "dev_f1", "test_f1")


@dataclass
class RunRecord:
    """What the report reads from one run directory."""

    log: RunLog
    metrics: list[JsonDict]  # every row of metrics.jsonl, in file order

    @property
    def path(self) -> Path:
        """The run directory."""
        return self.log.path

    @property
    def config(self) -> JsonDict:
        """config.json."""
        return self.log.config

    @property
    def stop_reason(self) -> str:
        """Why the run stopped (from the trace's last ``run_end``), or ""."""
        return self.log.stop_reason

    @property
    def kind(self) -> str:
        """``"ner"`` or ``"cls"`` (from the stored task, else from the metrics)."""
        stored = self.config.get("task_spec")
        if isinstance(stored, dict) and stored.get("kind") in ("ner", "cls"):
            return str(stored["kind"])
        from evokd.tasks import builtin_names, resolve_task

        if self.config.get("task") in builtin_names():
            return resolve_task(str(self.config["task"]), Path(".")).kind
        return "cls" if any("test_accuracy" in row for row in self.metrics) else "ner"

    @property
    def strategy(self) -> str:
        """The strategy and the ablations that were switched off, e.g. ``evokd, no-easy``."""
        parts = [str(self.config.get("strategy", "evokd"))]
        parts += [flag for key, flag in ABLATIONS
                  if self.config.get(key, self.config.get(OLD_KEYS.get(key, key), True)) is False]
        return ", ".join(parts)

    @property
    def label(self) -> str:
        """How the run is named in legends: directory name and strategy."""
        return f"{self.path.name} ({self.strategy})"

    @property
    def best(self) -> dict[str, Any]:
        """The metrics row of the best student (highest dev F1, earliest round on ties)."""
        return best_row(self.metrics)


def load_record(path: Path) -> RunRecord:
    """Read a run directory; UserError (one line) when it is missing or malformed."""
    run_dir = RunDir(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a directory")
    if not run_dir.config.exists():
        raise UserError(f"{path} is not a run directory (no config.json)")
    read_object(run_dir.config)  # a malformed config stops the report (the log skips it)
    metrics_path = run_dir.metrics
    if not metrics_path.exists():
        raise UserError(f"{path} is not a finished run directory (no {metrics_path.name})")
    metrics, _ = run_dir.read_metrics(strict=True)
    for number, row in enumerate(metrics, 1):
        missing = [key for key in METRIC_KEYS if key not in row]
        if missing:
            raise UserError(f"{metrics_path}:{number}: missing {', '.join(missing)}")
    if not metrics:
        raise UserError(f"{metrics_path} records no rounds")
    return RunRecord(load_run(path), metrics)


def samples_per_label(run: RunRecord) -> dict[int, Counter[str]]:
    """Per round: entity mentions per type (NER, from the IOB2 tags) or texts per label."""
    counts: dict[int, Counter[str]] = {}
    for entry in run.log.rounds:
        for sample in entry.samples:
            per_round = counts.setdefault(entry.number, Counter())
            if run.kind == "cls":
                per_round[str(sample.get("label"))] += 1
                continue
            previous = "O"
            for tag in sample.get("tags") or []:
                tag = str(tag)
                if tag.startswith("B-") or (tag.startswith("I-") and previous[2:] != tag[2:]):
                    per_round[tag[2:]] += 1
                previous = tag
    return counts


def drops_per_round(run: RunRecord) -> dict[int, dict[str, int]]:
    """Per round: dropped samples by reason (metrics.jsonl's ``drop_reasons``)."""
    return {int(r["round"]): dict(r.get("drop_reasons") or {}) for r in run.metrics
            if r["round"] > 0}


def calls_per_round(run: RunRecord) -> dict[int, RoleCalls]:
    """Per round: LLM calls (``calls``) and how many the cache answered (``cached``)."""
    return {entry.number: entry.all_calls() for entry in run.log.rounds}
