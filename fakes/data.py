"""Data folders for tests and benchmarks: slices of the shared data sets, CoNLL and JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_conll(path: Path, sentences: list[list[tuple[str, str]]], docstart: bool) -> None:
    """Write sentences as 4-column CoNLL-2003 lines (or 2-column when ``docstart`` is False)."""
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for sentence in sentences:
        for token, tag in sentence:
            lines.append(f"{token} NN O {tag}" if docstart else f"{token} {tag}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def copy_subset(task: str, target: Path, sizes: dict[str, int]) -> Path:
    """The first N sentences / lines of each split of a shared data set, under ``target``."""
    source = SHARED_DATA / task
    (target / task).mkdir(parents=True, exist_ok=True)
    for split, size in sizes.items():
        for suffix in (".txt", ".jsonl"):
            src = source / f"{split}{suffix}"
            if not src.exists():
                continue
            if suffix == ".jsonl":
                rows = src.read_text(encoding="utf-8").split("\n")[:size]
                (target / task / src.name).write_text("\n".join(rows) + "\n", encoding="utf-8")
            else:
                blocks = src.read_text(encoding="utf-8").split("\n\n")[: size + 1]
                (target / task / src.name).write_text("\n\n".join(blocks) + "\n",
                                                      encoding="utf-8")
    return target


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
