"""report.html and `main.py report`: rendered from small recorded run directories."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from evokd import main
from evokd.inspection.figures import PLOTS
from evokd.inspection.record import load_record, samples_per_label

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "run_dirs"
IMG = re.compile(r'<img alt="(\w+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
PNG_B64 = "iVBORw0KGgo"  # base64 of the PNG signature


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A writable copy of the recorded runs."""
    return Path(shutil.copytree(FIXTURES, tmp_path / "runs"))


def _check_page(page: str, n_runs: int) -> None:
    images = IMG.findall(page)
    assert [name for name, _ in images] == [plot.__name__ for plot in PLOTS]
    assert all(data.startswith(PNG_B64) and len(data) > 2000 for _, data in images)
    assert page.count('<table class="rounds">') == n_runs
    assert page.count('<table class="summary">') == 1
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page


def test_one_run_writes_its_report(runs: Path, capsys) -> None:
    run = runs / "conll03-evokd"
    assert main.main(["report", str(run)]) == 0
    assert f"report written to {run / 'report.html'}" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    _check_page(page, 1)
    table = page[page.index('<table class="rounds">'):]
    rows = re.findall(r"<tr><td>(\d+)</td>", table[: table.index("</table>")])
    assert rows == ["0", "1", "2", "3"]
    assert "duplicate 1, leak 1" in table and "test acc" not in table


def test_a_run_with_the_embedded_teacher_reports_its_counters(runs: Path) -> None:
    run = runs / "conll03-evokd"
    assert main.main(["report", str(run)]) == 0
    assert "local teacher:" not in (run / "report.html").read_text()  # none recorded
    event = ('{"event": "teacher_engine", "served": 9, "batches": 2, "prefill_prompt_tokens": '
             '900, "prefill_computed_tokens": 300, "prefill_seconds": 3.0}\n')
    with (run / "trace.jsonl").open("a", encoding="utf-8") as trace:
        trace.write(event)
    assert main.main(["report", str(run)]) == 0
    assert ('<p class="meta">local teacher: 9 requests in 2 batches; prompts 900 tokens, 300 of '
            "them computed (3.0x read per token computed), prefilled in 3 s: 300 prompt "
            "tokens/s</p>") in (run / "report.html").read_text()


def test_classification_report_has_accuracy(runs: Path) -> None:
    assert main.main(["report", str(runs / "sst2-evokd")]) == 0
    page = (runs / "sst2-evokd" / "report.html").read_text()
    _check_page(page, 1)
    assert "<th>test acc</th>" in page and "macro-F1" in page


def test_several_runs_make_one_comparison(runs: Path, capsys) -> None:
    evokd, static = runs / "conll03-evokd", runs / "conll03-static"
    assert main.main(["report", str(evokd), str(static)]) == 0
    out = evokd / "compare.html"
    assert f"report written to {out}" in capsys.readouterr().out
    page = out.read_text()
    _check_page(page, 2)
    assert "conll03-evokd (evokd)" in page and "conll03-static (static)" in page
    other = runs / "elsewhere" / "cmp.html"
    assert main.main(["report", str(evokd), str(static), "--out", str(other)]) == 0
    _check_page(other.read_text(), 2)


def test_missing_or_malformed_run_dirs_exit_2_with_one_line(runs: Path, capsys) -> None:
    assert main.main(["report", str(runs / "nope")]) == 2
    (runs / "conll03-static" / "metrics.jsonl").write_text('{"round": 0, "dev_f1": 0.1}\n{oops\n')
    assert main.main(["report", str(runs / "conll03-evokd"), str(runs / "conll03-static")]) == 2
    (runs / "sst2-evokd" / "config.json").unlink()
    assert main.main(["report", str(runs / "sst2-evokd")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("evokd report: error: ") for line in err)
    assert "nope" in err[0] and "metrics.jsonl:2: not JSON" in err[1] and "no config.json" in err[2]
    assert not (runs / "conll03-evokd" / "compare.html").exists()
    with pytest.raises(SystemExit) as exit_info:
        main.main(["report"])
    assert exit_info.value.code == 2


def test_samples_per_label_counts_entity_mentions_and_labels(runs: Path) -> None:
    ner = samples_per_label(load_record(runs / "conll03-evokd"))
    assert sorted(ner) == [1, 2, 3] and set(ner[1]) == {"PER", "ORG", "LOC", "MISC"}
    assert ner[1]["PER"] == 6  # six kept sentences, one person each
    cls = samples_per_label(load_record(runs / "sst2-evokd"))
    assert sum(cls[1].values()) == 7 and set(cls[1]) <= {"positive", "negative"}
