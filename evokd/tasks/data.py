"""Locating a task's data and loading its splits (files or a ``datasets`` dataset)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evokd.core.errors import UserError
from evokd.tasks.readers import LabelTally, cls_example, ner_example, read_file
from evokd.tasks.spec import DataSource, Example, TaskSpec
from evokd.tasks.tagging import normalise_tags


@dataclass(frozen=True)
class TaskData:
    """The splits of a task, in file order. ``seeds`` is the user's own seed set (from a
    ``seeds:`` file), used as is instead of a k-shot draw from ``train``; ``test`` may be
    empty (no test split: nothing is reported on it)."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    seeds: list[Example] | None = None
    unknown_labels: dict[str, LabelTally] = field(default_factory=dict)


def resolve_data_dir(flag: str | None) -> Path:
    """``--data-dir``, else ``$EVOKD_DATA_DIR``, else ``./data``."""
    return Path(flag or os.environ.get("EVOKD_DATA_DIR") or "data")


def load_task_data(spec: TaskSpec, lenient: bool = False) -> TaskData:
    """Read the splits of ``spec``; a clear UserError if anything is missing or bad.

    ``lenient`` (``main.py task``): labels the task does not declare are counted per split in
    ``unknown_labels`` instead of failing."""
    if spec.builtin:
        hub = _check_builtin_folder(spec)
        if hub is not None:
            return hub
    unknown: dict[str, LabelTally] = {}
    splits: dict[str, list[Example]] = {}
    opened = _open_dataset(spec.source) if spec.data_format == "datasets" else None
    for split in spec.source.splits:
        counter: LabelTally | None = LabelTally() if lenient else None
        splits[split] = _read_split(spec, split, counter, opened)
        if counter:
            unknown[split] = counter
    for split in ("train", "seeds", "dev", "test"):
        if split in splits and not splits[split]:
            hint = " (or leave test: out)" if split == "test" and not spec.builtin else ""
            raise UserError(f"{_where(spec, split)}: the split is empty; it needs at least one "
                            f"example{hint}")
    seeds = splits.get("seeds")
    if seeds is not None and spec.kind == "ner" and not any(
            t != "O" for ex in seeds for t in ex["tags"]):
        raise UserError(f"{_where(spec, 'seeds')}: no usable seed example: no sentence holds an "
                        "entity of a declared type; label at least one entity")
    return TaskData(splits.get("train", []), splits["dev"], splits.get("test", []),
                    seeds, unknown)


def _where(spec: TaskSpec, split: str) -> str:
    if spec.data_format == "datasets":
        return f"{spec.source.origin}: dataset {spec.source.dataset} split " \
               f"{spec.source.splits[split]!r}"
    return spec.source.splits[split]


def _read_split(spec: TaskSpec, split: str, unknown: LabelTally | None,
                opened: Any) -> list[Example]:
    if opened is not None:
        return read_dataset_split(spec, spec.source, split, unknown, opened)
    hint = ("each task folder needs its train, dev and test files" if spec.builtin
            else f"fix data.{split} in {spec.source.origin} (paths are relative to it)")
    return read_file(spec, Path(spec.source.splits[split]), hint, unknown)


def _check_builtin_folder(spec: TaskSpec) -> TaskData | None:
    """A built-in task reads ``<data-dir>/<task>/``: name the data dir when it is missing, and
    use the task's hub fallback (conll03) when only the task folder is missing."""
    task_dir = Path(spec.source.splits["dev"]).parent
    data_dir = task_dir.parent
    if not data_dir.is_dir():
        raise UserError(
            f"data directory {data_dir} does not exist; pass --data-dir or set EVOKD_DATA_DIR"
        )
    if task_dir.is_dir():
        return None
    fallback = spec.source.fallback
    if fallback is not None and os.environ.get("HF_HUB_OFFLINE") != "1":
        try:
            opened = _open_dataset(fallback)
            train, dev, test = (read_dataset_split(spec, fallback, s, None, opened)
                                for s in ("train", "dev", "test"))
            return TaskData(train, dev, test)
        except UserError:
            pass
    raise UserError(
        f"no data for task {spec.name!r} in {data_dir} (expected {task_dir}/train|dev|test); "
        "pass --data-dir or set EVOKD_DATA_DIR"
    )


def _open_dataset(source: DataSource) -> Any:
    """The DatasetDict named by ``source.dataset``: a saved folder, else a hub id."""
    try:
        import datasets
    except ImportError:
        raise UserError(f"{source.origin}: reading data.dataset needs the datasets package; "
                        "pip install datasets") from None
    if Path(source.dataset).is_dir():
        try:
            loaded = datasets.load_from_disk(source.dataset)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(f"{source.origin}: {source.dataset} is not a saved dataset "
                            f"({str(exc).splitlines()[0]}); write it with save_to_disk") from None
    elif os.environ.get("HF_HUB_OFFLINE") == "1":
        raise UserError(f"{source.origin}: dataset {source.dataset!r} is not a folder and the "
                        "Hugging Face hub is offline; save it with save_to_disk and give that "
                        "folder as data.dataset")
    else:
        try:
            loaded = datasets.load_dataset(source.dataset)
        except Exception as exc:  # noqa: BLE001 - any hub failure is the user's to fix
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"{source.origin}: cannot load dataset {source.dataset!r} from the "
                            f"hub ({first}); save it with save_to_disk and give that folder as "
                            "data.dataset") from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise UserError(f"{source.origin}: {source.dataset} holds one split, not named splits; "
                        "save a DatasetDict (train/validation/test)")
    return loaded


def _class_names(feature: Any) -> list[str] | None:
    """The names of a ClassLabel feature (or of the ClassLabel inside a Sequence/list)."""
    inner = getattr(feature, "feature", None)
    if isinstance(feature, list) and feature:
        inner = feature[0]
    names = getattr(inner if inner is not None else feature, "names", None)
    return list(names) if names else None


def read_dataset_split(spec: TaskSpec, source: DataSource, split: str,
                       unknown: LabelTally | None, loaded: Any) -> list[Example]:
    """One split of the opened ``datasets`` DatasetDict ``loaded``; integer labels and tags
    are mapped through the dataset's ClassLabel names."""
    name = source.splits.get(split, split)
    if name not in loaded:
        raise UserError(f"{source.origin}: dataset {source.dataset} has no split {name!r} "
                        f"(it has {', '.join(loaded)}); fix data.{split}")
    rows = loaded[name]
    where = f"{source.dataset}[{name}]"
    if spec.kind == "ner":
        names = _class_names(rows.features.get(source.tags_field))
        return normalise_tags([ner_example(row, spec, f"{where} row {i}", unknown, names)
                               for i, row in enumerate(rows)])
    names = _class_names(rows.features.get(source.label_field))
    examples = []
    for i, row in enumerate(rows):
        if names is not None and isinstance(row.get(source.label_field), int):
            row = {**row, source.label_field: names[row[source.label_field]]}
        example = cls_example(row, spec, f"{where} row {i}", unknown)
        if example is not None:
            examples.append(example)
    return examples
