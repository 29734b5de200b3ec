"""Bad input: exit code 2 and one clear line on stderr, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import copy_subset

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert text in lines[0], lines[0]


@pytest.fixture
def broken_data(tmp_path: Path) -> Path:
    copy_subset("conll03", tmp_path, {"train": 30, "dev": 5, "test": 5})
    return tmp_path


def test_unknown_task() -> None:
    _assert_one_line_error(_cli("--task", "conll99"), "unknown task 'conll99'")


def test_missing_task_flag() -> None:
    _assert_one_line_error(_cli("--rounds", "0"), "--task is required")


def test_missing_data_dir(tmp_path: Path) -> None:
    result = _cli("--task", "conll03", "--rounds", "0", "--data-dir", str(tmp_path / "none"))
    _assert_one_line_error(result, "does not exist; pass --data-dir or set EVOKD_DATA_DIR")


def test_task_missing_from_data_dir(tmp_path: Path) -> None:
    result = _cli("--task", "sst2", "--rounds", "0", "--data-dir", str(tmp_path))
    _assert_one_line_error(result, "no data for task 'sst2'")


def test_malformed_conll_line_says_file_and_line(broken_data: Path) -> None:
    train = broken_data / "conll03" / "train.txt"
    lines = train.read_text().split("\n")
    lines.insert(5, "lonely")
    train.write_text("\n".join(lines))
    result = _cli("--task", "conll03", "--rounds", "0", "--data-dir", str(broken_data))
    _assert_one_line_error(result, f"{train}:6: malformed CoNLL line 'lonely'")


def test_empty_split(broken_data: Path) -> None:
    (broken_data / "conll03" / "dev.txt").write_text("-DOCSTART- -X- -X- O\n\n")
    result = _cli("--task", "conll03", "--rounds", "0", "--data-dir", str(broken_data))
    _assert_one_line_error(result, "dev.txt: the split is empty")


@pytest.mark.parametrize("flag, value, text", [
    ("--rounds", "three", "argument --rounds: expected a whole number, got 'three'"),
    ("--k-shot", "1.5", "argument --k-shot: expected a whole number, got '1.5'"),
    ("--k-shot", "0", "argument --k-shot: expected a number >= 1, got 0"),
    ("--seed", "-1", "argument --seed: expected a number >= 0, got -1"),
    ("--max-concurrency", "x", "argument --max-concurrency: expected a whole number"),
    ("--teacher", "gpt", "argument --teacher: invalid choice: 'gpt'"),
])
def test_bad_flag_values(flag: str, value: str, text: str) -> None:
    _assert_one_line_error(_cli("--task", "conll03", flag, value), text)


def test_resume_of_a_folder_that_is_no_run(tmp_path: Path) -> None:
    _assert_one_line_error(_cli("--resume", str(tmp_path)), "is not a run directory")
