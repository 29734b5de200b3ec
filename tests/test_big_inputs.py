"""Big data files: a long CSV field is read, a field past the limit and a file past the size
limit are one line and exit 2 (never a traceback), and files are streamed, not read whole."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from evokd import main
from evokd.tasks.readers import CSV_FIELD_LIMIT, MAX_DATA_BYTES, read_lines
from fakes.custom_tasks import TICKETS_HEADER

TASK = TICKETS_HEADER + """\
format: csv
data:
  train: train.csv
  dev: dev.csv
"""


def _task(root: Path, long_text: str) -> Path:
    rows = [("The invoice was charged twice", "billing"), ("The site is down again", "outage")]
    for name in ("train.csv", "dev.csv"):
        with (root / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows([*rows, (long_text, "billing")])
    (root / "tickets.yaml").write_text(TASK, encoding="utf-8")
    return root / "tickets.yaml"


def test_a_200_kb_csv_field_is_read(tmp_path: Path, capsys) -> None:
    task = _task(tmp_path, "refund " * 30_000)  # 210 KB in one field
    assert main.main(["task", str(task)]) == 0, capsys.readouterr().err
    assert "ok: the task is ready to run" in capsys.readouterr().out


def test_a_field_past_the_limit_is_one_line(tmp_path: Path, capsys) -> None:
    task = _task(tmp_path, "x" * (CSV_FIELD_LIMIT + 10))
    assert main.main(["task", str(task)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "train.csv:4: unreadable CSV" in err and "up to 16 MiB" in err


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path: Path, capsys) -> None:
    task = _task(tmp_path, "fine")
    with (tmp_path / "train.csv").open("r+b") as handle:  # sparse: 1 GiB, no disk used
        handle.truncate(1024**3)
    assert main.main(["task", str(task)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "train.csv is 1,024 MiB" in err
    assert f"data files of up to {MAX_DATA_BYTES // 2**20} MiB" in err


def test_lines_are_streamed_and_keep_unicode_line_separators(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a\u2028b"}\r\n{"text": "c"}\n', encoding="utf-8")
    lines = read_lines(path)
    assert iter(lines) is lines  # a generator: nothing read before it is asked for
    assert list(lines) == ['{"text": "a\u2028b"}', '{"text": "c"}']
    os.remove(path)
