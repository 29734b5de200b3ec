"""How often the near-duplicate rule (``--quote-errors``) drops a real, distinct text: real
train texts checked against other real train texts standing in for the run's earlier samples
and quoted mistakes, at the rule's thresholds (word-set Jaccard 0.8, character similarity 0.9).

    python bench/near_duplicates.py --task conll03 [--earlier 200] [--checked 1000] [--seed 1]

Prints the share dropped and, per reason, a few examples (a dropped real text is a lost
sample; a low share says the thresholds leave distinct texts alone).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evokd.samples.rules import RuleCritic, normalise  # noqa: E402
from evokd.tasks import load_task_data, resolve_data_dir, resolve_task  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="conll03")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--earlier", type=int, default=200, help="texts standing for earlier "
                        "samples and quotes")
    parser.add_argument("--checked", type=int, default=1000, help="texts checked against them")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    texts = {}
    for example in load_task_data(spec).train:  # distinct texts only: a repeat is a duplicate
        text = spec.example_text(example)
        texts.setdefault(normalise(text), text)
    chosen = random.Random(args.seed).sample(list(texts.values()),
                                             args.earlier + args.checked)
    earlier, checked = chosen[:args.earlier], chosen[args.earlier:]
    critic = RuleCritic(spec, near=earlier)
    drops = [(text, problem) for text in checked
             if (problem := critic.check_text(text)) and problem[0] == "near_duplicate"]
    print(f"{args.task}: {len(drops)} of {len(checked)} distinct real train texts "
          f"({100 * len(drops) / len(checked):.1f} %) dropped as near_duplicate against "
          f"{len(earlier)} others")
    for detail, n in Counter(p[1].split(" with ")[0].split(" ")[0] for _, p in drops
                             ).most_common():
        print(f"  {n} by {detail}")
    for text, problem in drops[:5]:
        print(f"  - {text[:90]!r}: {problem[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
