"""bench/data_efficiency.py's bookkeeping: seeds measured by separate invocations add up."""

from __future__ import annotations

import json
from pathlib import Path

from bench.data_efficiency import merge_rows, table


def _row(seed: int, evokd: float, static: float) -> dict:
    return {"seed": seed, "n": 200, "seed_student": 0.27, "evokd": evokd, "evokd_round": 4,
            "evokd_tokens": 130_000, "evokd_wall_s": 700, "static": static, "static_kept": 199,
            "static_tokens": 128_000, "static_rounds": 5, "random_n": 0.66, "pool_once": 0.68}


def test_rows_of_earlier_invocations_are_kept_and_a_rerun_seed_replaced(tmp_path: Path) -> None:
    path = tmp_path / "efficiency.json"
    merge_rows(path, [_row(3, 0.70, 0.67), _row(4, 0.68, 0.69)])
    merged = merge_rows(path, [_row(5, 0.71, 0.69), _row(3, 0.72, 0.67)])
    assert [(r["seed"], r["evokd"]) for r in merged] == [(3, 0.72), (4, 0.68), (5, 0.71)]
    assert json.loads(path.read_text()) == merged
    mean = table(merged, twice=False).splitlines()[-1]
    assert mean.startswith("| mean ± std | ") and "+2.0 (SE 1.7)" in mean
