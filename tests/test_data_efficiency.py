"""bench/data_efficiency.py's bookkeeping: seeds measured by separate invocations add up, paired
differences come with their t-interval, and each arm's costs are counted."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.code_version import code_version
from bench.comparisons import bootstrap_interval, paired_interval
from bench.data_efficiency import (
    _arm_extra,
    arms_to_run,
    costs,
    curve_area,
    learning_curve,
    merge_rows,
    parse_args,
    table,
)


def _row(seed: int, evokd: float, static: float) -> dict:
    return {"seed": seed, "n": 200, "seed_student": 0.27, "evokd": evokd, "evokd_round": 4,
            "evokd_tokens": 130_000, "evokd_wall_s": 700, "static": static, "static_kept": 199,
            "static_tokens": 128_000, "static_rounds": 5, "random_n": 0.66, "pool_once": 0.68}


def test_rows_of_earlier_invocations_are_kept_and_a_rerun_seed_updated(tmp_path: Path) -> None:
    path = tmp_path / "efficiency.json"
    merge_rows(path, [_row(3, 0.70, 0.67), {**_row(4, 0.68, 0.69), "pool": 0.71}])
    only_evokd = {k: v for k, v in _row(4, 0.66, 0.0).items() if not k.startswith("static")}
    merged = merge_rows(path, [_row(5, 0.71, 0.69), _row(3, 0.72, 0.67), only_evokd])
    assert [(r["seed"], r["evokd"]) for r in merged] == [(3, 0.72), (4, 0.66), (5, 0.71)]
    assert (merged[1]["static"], merged[1]["pool"]) == (0.69, 0.71)  # not measured again: kept
    merged = merge_rows(path, [_row(4, 0.68, 0.69)])
    assert json.loads(path.read_text()) == merged
    lines = table(merged, twice=False).splitlines()
    assert any(line.startswith("| mean ± std | 27.0 ± 0.0 | 70.3 ± 2.1 | ") for line in lines)
    # differences 5, -1, 2 points: mean 2.0, std 3.0, t(2) = 4.303 -> half width 7.45
    assert any(line.startswith("| EvoKD − static (equal tokens) | +2.0 [-5.5, +9.5] (n=3) | [")
               for line in lines)


def test_a_row_that_only_adds_arms_keeps_the_yardsticks_of_the_arm_that_set_n(
    tmp_path: Path,
) -> None:
    path = tmp_path / "efficiency.json"
    merge_rows(path, [{"seed": 3, "n": 200, "n_arm": "pool", "random_n": 0.64, "pool": 0.73,
                       "pool_random": 0.67, "seed_student": 0.26}])
    added = {"seed": 3, "n": 199, "n_arm": "pool_cold", "random_n": 0.65, "pool_cold": 0.70,
             "seed_student": 0.26}
    [row] = merge_rows(path, [added])
    assert (row["n"], row["n_arm"], row["random_n"], row["pool_cold"]) == (200, "pool", 0.64,
                                                                           0.70)
    # measuring the arm that set N again replaces its yardsticks too
    [row] = merge_rows(path, [{**added, "n_arm": "pool", "pool": 0.72}])
    assert (row["n"], row["random_n"], row["pool"]) == (199, 0.65, 0.72)


def test_a_paired_interval_is_the_t_interval_of_the_differences() -> None:
    mean, low, high = paired_interval([0.01, 0.03, 0.02, 0.04, 0.00])
    assert mean == pytest.approx(0.02)
    assert (high - mean) == pytest.approx(2.776 * 0.0158114 / 5 ** 0.5, rel=1e-4)
    assert mean - low == pytest.approx(high - mean)
    assert paired_interval([0.05]) == (0.05, 0.05, 0.05)


def test_an_arms_costs_count_words_mentions_and_the_label_mix() -> None:
    ner = [{"tokens": ["Ann", "met", "Bob", "in", "Rome"], "tags": ["B-PER", "O", "B-PER", "O",
                                                                     "B-LOC"]},
           {"tokens": ["New", "York", "Times"], "tags": ["B-ORG", "I-ORG", "I-ORG"]}]
    assert costs(ner, "ner") == {"words": 8, "mentions": 4,
                                 "mix": {"LOC": 1, "ORG": 1, "PER": 2}}
    cls = [{"text": "a fine film", "label": "pos"}, {"text": "dull", "label": "neg"}]
    assert costs(cls, "cls") == {"words": 4, "mentions": None, "mix": {"neg": 1, "pos": 1}}


def test_the_pool_arms_are_paired_with_random_picks_and_with_writing() -> None:
    rows = []
    for seed, (evokd, pool, pool_random) in enumerate([(0.60, 0.66, 0.63), (0.62, 0.64, 0.64),
                                                       (0.61, 0.68, 0.64)], start=1):
        row = _row(seed, evokd, 0.6)
        for arm, score in (("pool", pool), ("pool_random", pool_random)):
            row.update({arm: score, f"{arm}_tokens": 60_000, f"{arm}_kept": 200,
                        f"{arm}_costs": {"words": 3000, "mentions": 400, "mix": {"PER": 4}}})
        rows.append(row)
    lines = table(rows, twice=False).splitlines()
    assert lines[0].startswith("| seed | seed student | EvoKD | pool (chosen) | "
                               "pool (random picks) | static (equal tokens) |")
    # differences 3, 0, 4 points: mean 2.33, std 2.08, t(2) = 4.303 -> half width 5.17
    assert any(line.startswith("| pool (chosen) − pool (random picks) | +2.3 [-2.8, +7.5] "
                               "(n=3) |") for line in lines)
    assert any(line.startswith("| pool (random picks) | 200 | 60.0k | 3000 | 400 | PER 100 %")
               for line in lines)
    for row in rows:
        row.update({"pool_mixed": row["pool"] + 0.01, "pool_mixed_tokens": 80_000})
    lines = table(rows, twice=False).splitlines()
    assert "| pool (random picks) | pool + written (mixed) | static (equal tokens) |" in lines[0]
    assert any(line.startswith("| pool + written (mixed) − pool (chosen) | +1.0 [")
               for line in lines)



def test_the_learning_curve_follows_each_rounds_student() -> None:
    metrics = [{"round": 0, "kept": 0, "test_f1": 0.27}, {"round": 1, "kept": 19, "test_f1": 0.4},
               {"round": 2, "kept": 20, "test_f1": 0.5}, {"round": 3, "kept": 0, "test_f1": 0.5}]
    assert learning_curve(metrics, "ner") == [[19, 0.4], [39, 0.5], [39, 0.5]]
    rows = [_row(1, 0.5, 0.5), _row(2, 0.5, 0.5)]
    rows[0]["evokd_curve"] = [[19, 0.4], [39, 0.5]]
    rows[1]["evokd_curve"] = [[21, 0.5], [41, 0.6], [60, 0.7]]
    lines = table(rows, twice=False).splitlines()
    assert "| learning curve: samples so far → score | round 1 | round 2 |" in lines
    assert "| EvoKD | 20 → 45.0 | 40 → 55.0 |" in lines  # rounds every seed reached


def test_a_bootstrap_interval_resamples_the_seeds_and_keeps_the_t_intervals_width() -> None:
    differences = [0.01, 0.03, 0.02, 0.04, 0.00]
    low, high = bootstrap_interval(differences)
    _, t_low, t_high = paired_interval(differences)
    assert low < 0.02 < high
    # a percentile interval of five seeds is about two thirds of the t-interval's width; this one
    # keeps the seeds' standard error
    assert high - low > 0.9 * (t_high - t_low)
    assert bootstrap_interval(differences) == (low, high)  # seeded: a table reprints the same
    skewed = [0.023, 0.033, 0.013, 0.026, 0.022, 0.081]  # one seed far above the others
    low, high = bootstrap_interval(skewed)
    mean = sum(skewed) / len(skewed)
    assert high - mean > 1.5 * (mean - low)
    assert bootstrap_interval([0.03, 0.03, 0.03]) == pytest.approx((0.03, 0.03))
    assert bootstrap_interval([0.05]) == (0.05, 0.05)


def test_the_area_under_a_curve_is_its_mean_score_over_the_samples() -> None:
    # from 0.2 at 0 samples: 0.2 -> 0.4 over 20, then 0.4 -> 0.6 over 20: (6 + 10) / 40
    assert curve_area([[20, 0.4], [40, 0.6]], 0.2) == pytest.approx(0.4)
    assert curve_area([], 0.3) == 0.3
    rows = [_row(1, 0.5, 0.5), _row(2, 0.5, 0.5)]
    for row, better in zip(rows, (0.1, 0.2), strict=True):
        row.update({"pool": 0.6, "pool_random": 0.55, "pool_tokens": 1, "pool_random_tokens": 1,
                    "pool_curve": [[20, 0.4 + better]], "pool_random_curve": [[20, 0.4]]})
    lines = table(rows, twice=False).splitlines()
    # area differences: half of 0.1 and of 0.2 (the curves start from the same seed student)
    assert any(line.startswith("| pool (chosen) − pool (random picks), area under the learning "
                               "curve | +7.5 [") for line in lines)
    assert "pool_curve_area" not in rows[0] and "pool_area" not in rows[0]



def test_rows_copied_from_a_table_count_in_the_scores_but_not_in_the_costs() -> None:
    copied = {"seed": 1, "n": 50, "seed_student": 0.27, "evokd": 0.52, "static": 0.47,
              "random_n": 0.55, "pool_once": 0.53}
    lines = table([copied, _row(2, 0.56, 0.49)], twice=False).splitlines()
    assert any(line.startswith("| EvoKD − static (equal tokens) | +6.0 [") for line in lines)
    assert any(line.startswith("| EvoKD (1 of 2 seeds) | 200 | 130.0k |") for line in lines)


def test_arms_follow_the_flags_unless_named_and_a_bad_choice_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--task", "conll03", "--out", str(tmp_path)]
    assert arms_to_run(parse_args(base)) == ["evokd", "static"]
    assert arms_to_run(parse_args([*base, "--quote", "4", "--pool"])) == [
        "evokd", "quote", "pool", "pool_random", "static"]
    assert arms_to_run(parse_args([*base, "--arms", "pool_random,pool"])) == [
        "pool", "pool_random"]
    for arms, message in (("static,pool", "the static arm needs evokd or quote"),
                          ("quote", "the quote arm needs --quote K"),
                          ("pool,guess", "unknown arm guess; the arms are evokd, quote")):
        with pytest.raises(SystemExit) as stop:
            parse_args([*base, "--arms", arms])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err


def test_rows_of_the_pool_arms_alone_make_a_table() -> None:
    rows = [{"seed": seed, "n": 200, "n_arm": "pool", "seed_student": 0.27, "random_n": 0.68,
             "pool_once": pool, "pool": pool, "pool_random": rand, "pool_kept": 200,
             "pool_tokens": 90_000, "pool_random_kept": 200, "pool_random_tokens": 95_000,
             "pool_curve": [[100, pool - 0.04], [200, pool]],
             "pool_random_curve": [[100, rand - 0.03], [200, rand]]}
            for seed, pool, rand in ((1, 0.72, 0.70), (2, 0.71, 0.70), (3, 0.74, 0.70))]
    lines = table(rows, twice=False).splitlines()
    assert lines[0] == ("| seed | seed student | pool (chosen) | pool (random picks) | random-N |"
                        " pool once | N |")
    # differences 2, 1, 4 points: mean 2.33, std 1.53, t(2) = 4.303 -> half width 3.79
    assert any(line.startswith("| pool (chosen) − pool (random picks) | +2.3 [-1.5, +6.1] "
                               "(n=3) |") for line in lines)
    assert not any("EvoKD" in line or "static" in line for line in lines)
    assert "| pool (chosen) | 100 → 68.3 | 200 → 72.3 |" in lines


def test_the_random_cold_start_arm_is_paired_with_both_pool_arms() -> None:
    args = parse_args(["--task", "conll03", "--out", "x", "--arms", "pool_cold,pool"])
    assert arms_to_run(args) == ["pool", "pool_cold"]
    assert _arm_extra(args, "pool_cold")[-2:] == ["--cold-start", "random"]
    rows = [{"seed": seed, "n": 200, "seed_student": 0.27, "random_n": 0.68, "pool": pool,
             "pool_random": rand, "pool_cold": cold}
            for seed, pool, rand, cold in ((1, 0.72, 0.70, 0.73), (2, 0.71, 0.70, 0.71),
                                           (3, 0.74, 0.70, 0.76))]
    lines = table(rows, twice=False).splitlines()
    assert lines[0].startswith("| seed | seed student | pool (chosen) | pool (random picks) | "
                               "pool (random round 1) | random-N |")
    # differences 1, 0, 2 points: mean 1.0, std 1.0, t(2) = 4.303 -> half width 2.48
    assert any(line.startswith("| pool (random round 1) − pool (chosen) | +1.0 [-1.5, +3.5] ")
               for line in lines)
    assert any(line.startswith("| pool (random round 1) − pool (random picks) | +3.3 ")
               for line in lines)


@pytest.mark.parametrize(("arm", "order", "name"), [("pool_dense", "dense", "dense later picks"),
                                                    ("pool_total", "total", "total later picks")])
def test_the_later_picks_arms_are_paired_with_both_pool_arms(arm: str, order: str,
                                                              name: str) -> None:
    args = parse_args(["--task", "conll03", "--out", "x", "--arms", arm])
    assert arms_to_run(args) == [arm]
    assert _arm_extra(args, arm)[-2:] == ["--later-picks", order]
    rows = [{"seed": seed, "n": 200, "seed_student": 0.27, "random_n": 0.68, "pool": pool,
             "pool_random": 0.70, arm: other}
            for seed, pool, other in ((1, 0.72, 0.74), (2, 0.71, 0.72), (3, 0.74, 0.77))]
    lines = table(rows, twice=False).splitlines()
    assert f"| pool ({name}) |" in lines[0]
    # differences 2, 1, 3 points: mean 2.0, std 1.0, t(2) = 4.303 -> half width 2.48
    assert any(line.startswith(f"| pool ({name}) − pool (chosen) | +2.0 [-0.5, +4.5] ")
               for line in lines)
    assert any(line.startswith(f"| pool ({name}) − pool (random picks) | +4.3 ")
               for line in lines)


def test_seeds_run_without_pool_once_leave_its_column_out() -> None:
    rows = [_row(1, 0.70, 0.67), {k: v for k, v in _row(2, 0.71, 0.66).items()
                                  if k != "pool_once"}]
    header = table(rows, twice=False).splitlines()[0]
    assert "pool once" not in header and "random-N" in header
    assert "pool once" in table(rows[:1], twice=False).splitlines()[0]
    assert parse_args(["--task", "conll03", "--out", "x", "--no-pool-once"]).no_pool_once


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_row_names_the_commit_it_ran_on_and_says_when_the_checkout_had_changes(
        tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "loop.py").write_text("ROUNDS = 3\n")
    _git(repo, "add", "loop.py")
    _git(repo, "commit", "-qm", "first")
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    assert code_version(repo) == commit
    (repo / "notes.txt").write_text("untracked files do not count\n")
    assert code_version(repo) == commit
    (repo / "loop.py").write_text("ROUNDS = 4\n")
    assert code_version(repo) == f"{commit}-dirty"
    assert code_version(tmp_path / "elsewhere") is None  # no such folder: no version, no crash
    plain = tmp_path / "plain"
    plain.mkdir()
    assert code_version(plain) is None
