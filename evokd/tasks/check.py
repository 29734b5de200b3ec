"""``python main.py task TASK``: check a task and print what evokd understood of it.

Labels, split sizes, examples (NER: mentions) per label and split, the seed set ``--k-shot``
would draw, and warnings: labels in the data that the task does not declare (a run stops on
them, so the command then exits 2), declared labels that never occur, a seed file missing a
label.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

from evokd.core.cli import EXIT_USAGE, UsageParser, k_shot, run_command, visible
from evokd.tasks.data import TaskData, load_task_data, resolve_data_dir
from evokd.tasks.registry import resolve_task
from evokd.tasks.sampler import entity_types, seed_examples
from evokd.tasks.spec import Example, TaskSpec

SPLITS = ("train", "seeds", "dev", "test")


def label_counts(spec: TaskSpec, examples: list[Example]) -> Counter[str]:
    """Examples per class (classification) or mentions per entity type (NER)."""
    if spec.kind == "cls":
        return Counter(ex["label"] for ex in examples)
    return Counter(t for ex in examples for t in entity_types(ex["tags"]))


def _splits(data: TaskData) -> dict[str, list[Example]]:
    present = {"train": data.train, "seeds": data.seeds, "dev": data.dev, "test": data.test}
    return {name: rows for name, rows in present.items() if rows}


def warnings_for(spec: TaskSpec, data: TaskData) -> tuple[list[str], list[str]]:
    """``(errors, warnings)``: errors stop a run (undeclared labels), warnings do not."""
    unit = "tags {} tokens" if spec.kind == "ner" else "labels {} examples"
    errors = [
        f"{split}: label {label!r} is not declared but {unit.format(n)}, at "
        f"{_places(counter.places.get(label, []), n)}; declare it under labels: or fix the data"
        for split, counter in data.unknown_labels.items() for label, n in counter.most_common()
    ]
    counts = {split: label_counts(spec, rows) for split, rows in _splits(data).items()}
    warnings = [f"declared label {label!r} never occurs in {', '.join(counts)}"
                for label in spec.labels if not any(c[label] for c in counts.values())]
    if data.seeds is not None:
        warnings += [f"the seeds file has no example of {label!r}: the student starts without it"
                     for label in spec.labels if not counts["seeds"][label]]
    if not data.test:
        warnings.append("no test split: runs report dev scores only")
    return errors, warnings


def _places(places: list[str], count: int) -> str:
    """``a.csv:3, a.csv:9`` (``and N more`` when more were counted than kept)."""
    more = f" and {count - len(places)} more" if count > len(places) else ""
    return ", ".join(places) + more


def set_aside(spec: TaskSpec, data: TaskData, split: str) -> str:
    """What the read of ``split`` left out for undeclared labels: examples (classification)
    or tags read as ``O`` (NER), with where they are; "" when nothing was."""
    counter = data.unknown_labels.get(split)
    if not counter:
        return ""
    n = sum(counter.values())
    what = (f"{n} example(s) set aside" if spec.kind == "cls"
            else f"{n} tag(s) read as O")
    places = [place for label in counter for place in counter.places.get(label, [])]
    return f"  ({what}: undeclared label(s) {', '.join(map(repr, counter))} at " \
           f"{_places(places, n)})"


def _describe_seed(spec: TaskSpec, example: Example) -> str:
    text = spec.example_text(example)
    text = text if len(text) <= 90 else text[:87] + "..."
    if spec.kind == "cls":
        return f"[{example['label']}] {text}"
    return f"{text}  [{', '.join(entity_types(example['tags'])) or 'no entities'}]"


def describe(spec: TaskSpec, data: TaskData, k_shot: int | None, seed: int) -> list[str]:
    """The report printed by ``main.py task`` (without the warnings)."""
    unit = "sentences" if spec.kind == "ner" else "examples"
    where = "built-in" if spec.builtin else spec.source.origin
    kind = "NER" if spec.kind == "ner" else "classification"
    lines = [f"task {spec.name} ({kind}, {where})", f"  {spec.description}"]
    if spec.domain:
        lines.append(f"  domain: {spec.domain}")
    width = max(len(label) for label in spec.labels) + 2
    lines.append(f"labels ({len(spec.labels)}):")
    lines += [f"  {label:<{width}} {spec.label_descriptions.get(label, '')}".rstrip()
              for label in spec.labels]
    source = spec.source.dataset or ""
    lines.append(f"data ({spec.data_format}{f': {source}' if source else ''}):")
    splits = _splits(data)
    for split in SPLITS:
        if split in splits:
            lines.append(f"  {split:<6} {len(splits[split]):>7,} {unit}  "
                         f"{spec.source.splits.get(split, '')}{set_aside(spec, data, split)}")
        elif split in ("train", "test") and not (split == "train" and data.seeds):
            lines.append(f"  {split:<6} (none)")
    per = "mentions" if spec.kind == "ner" else "examples"
    lines.append(f"{per} per label:")
    counts = {split: label_counts(spec, rows) for split, rows in splits.items()}
    lines.append("  " + f"{'label':<{width}}" + "".join(f"{s:>9}" for s in counts))
    for label in spec.labels:
        lines.append("  " + f"{label:<{width}}"
                     + "".join(f"{c[label]:>9,}" for c in counts.values()))
    chosen = seed_examples(spec, data, k_shot, seed)
    how = ("the seeds file, as is" if data.seeds is not None
           else f"--k-shot {'all' if k_shot is None else k_shot} --seed {seed}")
    lines.append(f"seed set ({how}): {len(chosen)} {unit}")
    lines += [f"  {_describe_seed(spec, ex)}" for ex in chosen[:12]]
    if len(chosen) > 12:
        lines.append(f"  ... and {len(chosen) - 12} more")
    return lines


def task_main(argv: Sequence[str]) -> int:
    """``main.py task TASK [--k-shot K] [--seed N] [--data-dir DIR]``; exit 2 on a bad task."""
    parser = UsageParser(prog="main.py task",
                         description="Check a task and show what evokd understood of it.")
    parser.add_argument("task", help="a built-in task name or the path of a task file")
    parser.add_argument("--k-shot", type=k_shot, default=1, metavar="K|all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=None, help="default $EVOKD_DATA_DIR, else ./data")
    return run_command(parser, argv, _check)


def _check(args: argparse.Namespace) -> int:
    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    data = load_task_data(spec, lenient=True)
    lines = describe(spec, data, args.k_shot, args.seed)
    errors, warnings = warnings_for(spec, data)
    print("\n".join(visible(line) for line in lines))  # data texts: no escape codes
    for line in warnings:
        print(f"warning: {visible(line)}")
    for line in errors:
        print(f"error: {visible(line)}")
    if errors:
        print(f"evokd: error: {args.task}: {len(errors)} undeclared label(s) in the data; a run "
              "would stop on them (see the lines above)", file=sys.stderr)
        return EXIT_USAGE
    print("ok: the task is ready to run")
    return 0
