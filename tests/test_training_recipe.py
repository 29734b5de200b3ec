"""bench/training_recipe.py: a run's samples and as many random gold sentences, each trained once
under several recipes, in one table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench.training_recipe import main, markdown, parse_recipes


def _samples_file(data_dir: Path, tmp_path: Path, n: int) -> Path:
    """A run's ``synthetic.jsonl`` holding the first ``n`` train examples of the tiny data."""
    from evokd.tasks import load_task_data, resolve_task

    train = load_task_data(resolve_task("conll03", data_dir)).train[:n]
    samples = tmp_path / "synthetic.jsonl"
    samples.write_text("".join(json.dumps({**ex, "stance": "pool"}) + "\n" for ex in train))
    return samples


def test_recipes_are_steps_and_learning_rates() -> None:
    assert parse_recipes("300:5e-5,600:1e-4") == [(300, 5e-5), (600, 1e-4)]
    with pytest.raises(argparse.ArgumentTypeError, match="bad recipe '300': write STEPS:LR"):
        parse_recipes("300")


def test_the_table_has_a_cell_for_each_set_and_recipe() -> None:
    rows = [{"set": "samples", "n": 2, "steps": 300, "learning_rate": 5e-5, "test_f1": 0.708,
             "dev_f1": 0.751},
            {"set": "random", "n": 2, "steps": 300, "learning_rate": 1e-4, "test_f1": 0.683,
             "dev_f1": 0.732}]
    lines = markdown(rows, [(300, 5e-5), (300, 1e-4)]).splitlines()
    assert lines[0] == "| training set | 300 steps, 5e-05 | 300 steps, 0.0001 |"
    assert lines[2:] == ["| samples (2) | 70.8 (75.1) | – |", "| random (2) | – | 68.3 (73.2) |"]


def test_a_runs_samples_and_random_sentences_are_trained_under_each_recipe(
    tiny_backbone: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    samples = _samples_file(tiny_data, tmp_path, 6)
    out = tmp_path / "rows.json"
    assert main(["--task", "conll03", "--samples", str(samples), "--recipes", "2:5e-5,2:1e-3",
                 "--student", str(tiny_backbone), "--data-dir", str(tiny_data),
                 "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["set"], r["n"], r["learning_rate"]) for r in rows] == [
        ("samples", 6, 5e-5), ("samples", 6, 1e-3), ("random", 6, 5e-5), ("random", 6, 1e-3)]
    assert all(0 <= r["test_f1"] <= 1 and 0 <= r["dev_f1"] <= 1 for r in rows)
    assert "| samples (6) | " in capsys.readouterr().out


def test_no_samples_trains_only_as_many_random_sentences_as_the_samples_hold(
    tiny_backbone: Path, tiny_data: Path, tmp_path: Path,
) -> None:
    samples = _samples_file(tiny_data, tmp_path, 4)
    out = tmp_path / "rows.json"
    assert main(["--task", "conll03", "--samples", str(samples), "--recipes", "2:5e-5",
                 "--no-samples", "--student", str(tiny_backbone), "--data-dir", str(tiny_data),
                 "--out", str(out)]) == 0
    assert [(r["set"], r["n"]) for r in json.loads(out.read_text())] == [("random", 4)]


def test_a_missing_samples_file_is_a_clear_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--task", "conll03", "--samples", str(tmp_path / "none.jsonl")])
    assert stop.value.code == 2
    assert "no samples file at" in capsys.readouterr().err
