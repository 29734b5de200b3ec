"""Pieces shared by the benchmarks that compare runs over several seeds."""

from __future__ import annotations

import argparse
import math
import random
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


# two-sided 95 % Student-t quantiles by degrees of freedom (1-30); 1.96 beyond
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def paired_interval(differences: list[float]) -> tuple[float, float, float]:
    """Mean of paired differences (one per seed) and its 95 % t-interval ``(mean, low,
    high)``; the interval is the mean itself for one seed (no spread to measure)."""
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return mean, mean, mean
    df = len(differences) - 1
    half = (_T975[df - 1] if df <= len(_T975) else 1.96) * statistics.stdev(differences) / (
        len(differences) ** 0.5)
    return mean, mean - half, mean + half


def paired_text(differences: list[float], digits: int = 1) -> str:
    """``+m [lo, hi]`` in percentage points (fractions in)."""
    mean, low, high = paired_interval(differences)
    return (f"{100 * mean:+.{digits}f} [{100 * low:+.{digits}f}, {100 * high:+.{digits}f}]"
            f" (n={len(differences)})")


def bootstrap_interval(differences: list[float], draws: int = 10_000, seed: int = 0
                       ) -> tuple[float, float]:
    """95 % expanded percentile bootstrap interval of the mean of paired differences
    (Hesterberg 2015): the seeds are resampled with replacement ``draws`` times (seeded, so a
    table reprints the same), and the interval runs between the resample means at the tail
    share ``Φ(−√(n/(n−1)) · t₀.₉₇₅,ₙ₋₁)`` instead of 2.5 %. A plain percentile interval shrinks
    with few seeds (to about two thirds of the t-interval at five); this one keeps the
    t-interval's width for symmetric differences, leans toward a skew, and never leaves the
    range the seeds span (with three seeds it is that range)."""
    n = len(differences)
    if n < 2:
        return differences[0], differences[0]
    df = n - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.96
    tail = 0.5 * math.erfc(math.sqrt(n / df) * t / math.sqrt(2))  # Φ(−x)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(draws))
    low = int(tail * draws)
    return means[low], means[draws - 1 - low]


def bootstrap_text(differences: list[float], digits: int = 1) -> str:
    """``[lo, hi]`` of :func:`bootstrap_interval` in percentage points (fractions in)."""
    low, high = bootstrap_interval(differences)
    return f"[{100 * low:+.{digits}f}, {100 * high:+.{digits}f}]"
