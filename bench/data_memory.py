"""Memory of reading a big data file: peak RSS growth of ``read_csv`` / ``read_jsonl`` over the
file's size, on a generated classification file (deleted afterwards).

Each reader runs in a fresh child process, so one measurement does not inherit the other's
heap. A file over ``MAX_DATA_BYTES`` is refused before it is read; this measures what the
accepted ones cost.

    python bench/data_memory.py [--mib 64] [--format csv|jsonl|both]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["market", "shares", "team", "won", "game", "company", "reported", "profit", "the", "a",
         "of", "in", "minister", "said", "on", "Tuesday", "science", "new", "study"]
TASK = """\
name: big
kind: classification
description: Sentiment.
domain: news
labels:
  pos: positive
  neg: negative
format: {fmt}
data:
  train: train.{fmt}
  dev: train.{fmt}
"""
MEASURE = """
import os, resource, sys
from pathlib import Path
from evokd.tasks.readers import read_file
from evokd.tasks.taskfile import load_task_file
spec = load_task_file(Path(sys.argv[1]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
examples = read_file(spec, Path(sys.argv[2]))
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(len(examples), grown)
"""


def write_file(path: Path, mib: int, fmt: str) -> None:
    """A classification file of about ``mib`` MiB of random news-like texts."""
    rng = random.Random(0)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            handle.write("text,label\n")
        while handle.tell() < mib * 2**20:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
            label = rng.choice(("pos", "neg"))
            handle.write(f'"{text}",{label}\n' if fmt == "csv"
                         else json.dumps({"text": text, "label": label}) + "\n")


def measure(mib: int, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_file(root / f"train.{fmt}", mib, fmt)
        (root / "task.yaml").write_text(TASK.format(fmt=fmt), encoding="utf-8")
        size = (root / f"train.{fmt}").stat().st_size
        done = subprocess.run([sys.executable, "-c", MEASURE, str(root / "task.yaml"),
                               str(root / f"train.{fmt}")], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        count, grown = map(int, done.stdout.split())
    print(f"{fmt}: {size / 2**20:.0f} MiB, {count} examples, peak RSS growth "
          f"{grown / 2**20:.0f} MiB = {grown / size:.2f}x the file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--format", choices=("csv", "jsonl", "both"), default="both")
    args = parser.parse_args()
    for fmt in ("csv", "jsonl") if args.format == "both" else (args.format,):
        measure(args.mib, fmt)


if __name__ == "__main__":
    main()
