"""Does the student's training recipe hold the end point? The seed set + a run's samples, and
the seed set + as many random gold train sentences, each trained once from the backbone with
several recipes (steps, learning rate), as the data-efficiency bench trains its yardsticks.

    python bench/training_recipe.py --task conll03 --seed 1 --samples RUN/synthetic.jsonl \
        [--recipes 300:5e-5,300:1e-4,600:5e-5] [--no-random | --no-samples] [--student PATH] \
        [--data-dir DIR] [--out FILE]

``--samples`` is a run directory's ``synthetic.jsonl`` (e.g. a pool arm's, picked texts with
their labels); the random sentences are the bench's random-N for that seed and N. Prints one
markdown line per training set: test F1 (dev F1) under each recipe; ``--out`` also writes
the rows as JSON. Each training takes the time of one bench yardstick (4–8 min for 200
CoNLL-2003 sentences on one CPU thread).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data_efficiency import random_gold, train_once, training_view  # noqa: E402

Recipe = tuple[int, float]


def parse_recipes(text: str) -> list[Recipe]:
    """``STEPS:LR,...`` as (steps, learning rate) pairs."""
    recipes = []
    for part in text.split(","):
        steps, _, rate = part.partition(":")
        try:
            recipes.append((int(steps), float(rate)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad recipe {part!r}: write STEPS:LR, e.g. 300:5e-5") from None
    return recipes


def markdown(rows: list[dict[str, Any]], recipes: list[Recipe]) -> str:
    """One line per training set, one cell per recipe: ``test (dev)`` in points."""
    head = " | ".join(f"{steps} steps, {rate:g}" for steps, rate in recipes)
    lines = [f"| training set | {head} |", "|---" * (len(recipes) + 1) + "|"]
    for name in dict.fromkeys(r["set"] for r in rows):
        cells = []
        for steps, rate in recipes:
            hit = next((r for r in rows if r["set"] == name and r["steps"] == steps
                        and r["learning_rate"] == rate), None)
            cells.append("–" if hit is None else
                         f"{100 * hit['test_f1']:.1f} ({100 * hit['dev_f1']:.1f})")
        n = next(r["n"] for r in rows if r["set"] == name)
        lines.append(f"| {name} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=Path, required=True,
                        help="a run's synthetic.jsonl")
    parser.add_argument("--recipes", type=parse_recipes, default=parse_recipes(
        "300:5e-5,300:1e-4,600:5e-5"), metavar="STEPS:LR,...")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--no-random", action="store_true",
                      help="skip the random gold sentences")
    only.add_argument("--no-samples", action="store_true",
                      help="train only the random gold sentences (the samples give N)")
    parser.add_argument("--student", help="backbone path (default: the default student's)")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", type=Path, help="also write the rows here (JSON)")
    args = parser.parse_args(argv)
    from evokd.tasks import resolve_data_dir, resolve_task

    if not args.samples.is_file():
        parser.error(f"no samples file at {args.samples}; give a run's synthetic.jsonl")
    kind = resolve_task(args.task, resolve_data_dir(args.data_dir)).kind
    samples = training_view([json.loads(line) for line in args.samples.read_text().splitlines()
                             if line.strip()], kind)
    sets = [] if args.no_samples else [("samples", samples)]
    if not args.no_random:
        sets.append(("random", random_gold(args, args.seed, len(samples))))
    rows = []
    for name, extra in sets:
        for steps, rate in args.recipes:
            result = train_once(args.task, args.data_dir, args.seed, extra, steps, rate,
                                args.student)
            rows.append({"set": name, "seed": args.seed, "steps": steps,
                         "learning_rate": rate, **result})
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown(rows, args.recipes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
