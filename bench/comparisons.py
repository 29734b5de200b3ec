"""Pieces shared by the benchmarks that compare runs over several seeds."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from evokd.core.cli import seed_list


def seeds_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the comparisons' common flags: --task, --seeds (default 1,2,3), --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--task", required=True)
    parser.add_argument("--seeds", type=seed_list, default=[1, 2, 3])
    parser.add_argument("--out", type=Path, required=True)
    return parser


def mean_pm(values: list[float], digits: int) -> str:
    """``mean ± sample std`` of fractions, as percentages with ``digits`` decimals."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.{digits}f} ± {100 * std:.{digits}f}"
