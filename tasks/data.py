"""Locating a task's data directory and loading its splits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import UserError
from tasks.readers import read_split
from tasks.spec import Example, TaskSpec

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class TaskData:
    """The three splits of a task, in file order."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]


def resolve_data_dir(flag: str | None) -> Path:
    """``--data-dir``, else ``$EVOKD_DATA_DIR``, else ``./data``."""
    return Path(flag or os.environ.get("EVOKD_DATA_DIR") or "data")


def split_path(spec: TaskSpec, data_dir: Path, split: str) -> Path:
    """The file holding ``split`` of ``spec`` under ``data_dir``."""
    suffix = ".txt" if spec.data_format == "conll" else ".jsonl"
    return data_dir / spec.name / f"{split}{suffix}"


def load_task_data(spec: TaskSpec, data_dir: Path) -> TaskData:
    """Read train/dev/test of ``spec``; a clear UserError if anything is missing or bad."""
    if not data_dir.is_dir():
        raise UserError(
            f"data directory {data_dir} does not exist; pass --data-dir or set EVOKD_DATA_DIR"
        )
    task_dir = data_dir / spec.name
    if not task_dir.is_dir():
        hub = _load_from_hub(spec)
        if hub is not None:
            return hub
        raise UserError(
            f"no data for task {spec.name!r} in {data_dir} (expected {task_dir}/train|dev|test); "
            "pass --data-dir or set EVOKD_DATA_DIR"
        )
    return TaskData(*(read_split(spec, split_path(spec, data_dir, s)) for s in SPLITS))


def _load_from_hub(spec: TaskSpec) -> TaskData | None:
    """conll03 through the ``datasets`` library when it is installed and the hub answers."""
    if spec.name != "conll03" or os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    try:
        import datasets  # optional extra "hub"
    except ImportError:
        return None
    try:
        raw = datasets.load_dataset("eriktks/conll2003")
    except Exception:  # noqa: BLE001 - any hub failure means "not available"
        return None
    names = raw["train"].features["ner_tags"].feature.names

    def convert(split: str) -> list[Example]:
        return [
            {"tokens": list(r["tokens"]), "tags": [names[t] for t in r["ner_tags"]]}
            for r in raw[split]
        ]

    return TaskData(convert("train"), convert("validation"), convert("test"))
