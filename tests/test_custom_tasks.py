"""Your own task: task files, their data formats, `main.py task`, runs, resume and report.

Every custom task (fakes/custom_tasks.py) runs `--rounds 0` and a two-round loop against the
scripted teacher over real HTTP; a run of a custom task resumes, reports, traces and views with
its task file gone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evokd import main
from evokd.inspection.viewer import render_page
from evokd.tasks import load_task_data, resolve_task, seed_examples
from fakes.custom_tasks import (
    BUILDERS,
    NER_LABELS,
    custom_reply,
    ner_conll_task,
    tickets_csv_task,
)
from fakes.data import read_jsonl
from fakes.scripted_teacher import ORGS


@pytest.fixture(autouse=True)
def env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake-key")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run_args(task: Path, run_dir: Path, backbone: Path, base_url: str, rounds: int
             ) -> list[str]:
    return ["--task", str(task), "--rounds", str(rounds), "--k-shot", "1", "--seed", "1",
            "--samples-per-round", "4", "--base-url", base_url, "--model", "fake-model",
            "--student", str(backbone), "--run-dir", str(run_dir), "--train-steps", "10",
            "--round-steps", "5", "--max-concurrency", "4", "--timeout", "5", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_custom_task_runs_seed_only_and_two_rounds(
    name: str, tmp_path: Path, tiny_backbone: Path, fake_openai,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task = BUILDERS[name](tmp_path / "task")
    spec = resolve_task(str(task), tmp_path / "unused-data-dir")
    server = fake_openai(custom_reply)

    seed_run = tmp_path / "seed-only"
    assert main.main(run_args(task, seed_run, tiny_backbone, server.base_url, 0)) == 0
    config = json.loads((seed_run / "config.json").read_text())
    assert config["task"] == spec.name and config["task_spec"]["labels"] == list(spec.labels)
    student = json.loads((seed_run / "student" / "config.json").read_text())
    assert set(student["id2label"].values()) == set(spec.tag_set)
    [row] = read_jsonl(seed_run / "metrics.jsonl")
    has_test = "test" in spec.source.splits
    assert (row["test_f1"] is not None) == has_test
    assert server.requests == []  # the seed student needs no teacher

    loop_run = tmp_path / "loop"
    assert main.main(run_args(task, loop_run, tiny_backbone, server.base_url, 2)) == 0
    out = capsys.readouterr().out
    assert "best student: round" in out and ("no test split" in out) != has_test
    assert [r["round"] for r in read_jsonl(loop_run / "metrics.jsonl")] == [0, 1, 2]
    synthetic = read_jsonl(loop_run / "synthetic.jsonl")
    assert synthetic, "the scripted teacher's samples in the task's labels are accepted"
    if spec.kind == "ner":
        types = {t[2:] for s in synthetic for t in s["tags"] if t != "O"}
        assert types and types <= set(NER_LABELS)
    else:
        assert {s["label"] for s in synthetic} <= set(spec.labels)
    prompts = json.dumps([r["messages"] for r in server.requests])
    assert spec.description in prompts and spec.labels[0] in prompts


def test_hyphenated_bioes_labels_are_read_as_iob2(tmp_path: Path) -> None:
    spec = resolve_task(str(ner_conll_task(tmp_path)), tmp_path)
    data = load_task_data(spec)
    first = data.train[0]
    assert first["tokens"][:2] == ["Anna", "Berg"]
    assert first["tags"][:2] == ["B-person", "I-person"]
    assert "B-creative-work" in first["tags"] and "I-creative-work" in first["tags"]
    assert all(t[:2] in ("O", "B-", "I-") for ex in data.train for t in ex["tags"])


def test_seeds_file_is_the_seed_set_as_is(tmp_path: Path) -> None:
    spec = resolve_task(str(BUILDERS["ner-seeds-file"](tmp_path)), tmp_path)
    data = load_task_data(spec)
    assert data.train == [] and data.test == [] and len(data.seeds) == 2
    assert seed_examples(spec, data, 1, seed=7) == data.seeds
    assert seed_examples(spec, data, None, seed=1) == data.seeds


def _stop_after_seed_student(tmp_path: Path, tiny_backbone: Path, fake_openai
                             ) -> tuple[Path, Path, int]:
    """A custom-task run that stopped at round 1 (the endpoint went away)."""
    task = ner_conll_task(tmp_path / "task")
    server = fake_openai(custom_reply)
    port = server.port
    server.stop()
    run_dir = tmp_path / "run"
    args = run_args(task, run_dir, tiny_backbone, f"http://127.0.0.1:{port}/v1", 2)
    assert main.main([*args, "--no-cache"]) == 2
    assert [r["round"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [0]
    return task, run_dir, port


@pytest.mark.slow
def test_custom_task_run_resumes_reports_traces_and_views_without_its_task_file(
    tmp_path: Path, tiny_backbone: Path, fake_openai, capsys: pytest.CaptureFixture[str],
) -> None:
    task, run_dir, port = _stop_after_seed_student(tmp_path, tiny_backbone, fake_openai)
    task.unlink()  # the task file is gone; its data files stay
    fake_openai(custom_reply, port=port)
    assert main.main(["--resume", str(run_dir), "--quiet"]) == 0
    assert [r["round"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [0, 1, 2]
    capsys.readouterr()

    shutil.rmtree(tmp_path / "task")  # data gone too: inspecting needs only the run directory
    assert main.main(["report", str(run_dir)]) == 0
    assert "social" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert main.main(["trace", str(run_dir)]) == 0
    assert "task social" in capsys.readouterr().out
    page = render_page(run_dir)
    assert "social" in page and "person" in page and "Round 2" in page


def test_task_command_prints_labels_splits_seed_set_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = BUILDERS["ner-seeds-file"](tmp_path)
    text = task.read_text().replace("  creative-work:", "  product: things you can buy\n"
                                    "  creative-work:")
    task.write_text(text)
    assert main.main(["task", str(task)]) == 0
    out = capsys.readouterr().out
    assert "task seeded (NER" in out and "creative-work" in out
    assert "seeds        2 sentences" in out and "dev          8 sentences" in out
    assert "seed set (the seeds file, as is): 2 sentences" in out
    assert "warning: declared label 'product' never occurs" in out
    assert "warning: the seeds file has no example of 'product'" in out
    assert "warning: no test split" in out
    assert out.rstrip().endswith("ok: the task is ready to run")


def test_task_command_lists_undeclared_labels_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = ner_conll_task(tmp_path)
    task.write_text(task.read_text().replace("  corporation: companies and brands\n", ""))
    assert main.main(["task", str(task)]) == 2
    captured = capsys.readouterr()
    tokens = sum(len(ORGS[(i // 2) % len(ORGS)].split()) for i in range(30))
    assert (f"error: train: label 'corporation' is not declared but tags {tokens} tokens"
            in captured.out)
    assert captured.err.count("\n") == 1 and "undeclared label" in captured.err
    # NER: the tags are read as O, and the summary says how many and where
    train = tmp_path / "data" / "train.conll"
    first = next(i for i, line in enumerate(train.read_text().splitlines(), start=1)
                 if line.endswith("corporation"))
    assert (f"({tokens} tag(s) read as O: undeclared label(s) 'corporation' at "
            f"{train}:{first}, ") in captured.out


def test_a_set_aside_row_is_counted_and_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = tickets_csv_task(tmp_path)
    train = tmp_path / "train.csv"
    lines = train.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.endswith(",billing"))
    lines[number - 1] = lines[number - 1].removesuffix(",billing") + ",biling"
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main.main(["task", str(task)]) == 2
    out = capsys.readouterr().out
    assert (f"error: train: label 'biling' is not declared but labels 1 examples, at "
            f"{train}:{number};") in out
    rows = len(lines) - 1
    assert (f"train  {rows - 1:>7,} examples  {train}  (1 example(s) set aside: undeclared "
            f"label(s) 'biling' at {train}:{number})") in out


def test_builtin_task_command_and_unchanged_seed_set(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    from fakes.data import SHARED_DATA

    assert main.main(["task", "conll03", "--data-dir", str(SHARED_DATA)]) == 0
    out = capsys.readouterr().out
    assert "train   14,041 sentences" in out and "PER" in out
    # the seed set the registry gave before tasks became files (seed 1, k=1)
    assert "seed set (--k-shot 1 --seed 1): 3 sentences" in out
    assert "The company 's PMC-Sierra unit" in out and "5. Aloys Nizigama" in out


@pytest.mark.slow
def test_seeds_of_a_custom_task_and_resume_of_one_seed_without_the_task_file(
    tmp_path: Path, tiny_backbone: Path, fake_openai, capsys: pytest.CaptureFixture[str],
) -> None:
    task = BUILDERS["cls-csv"](tmp_path / "task")
    server = fake_openai(custom_reply)
    run_dir = tmp_path / "seeds"
    args = run_args(task, run_dir, tiny_backbone, server.base_url, 0)
    assert main.main([*args, "--seeds", "1-2"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == "tickets" and summary["kind"] == "cls"
    assert [r["seed"] for r in summary["runs"]] == [1, 2] and "test_accuracy" in summary
    task.unlink()
    capsys.readouterr()
    assert main.main(["--resume", str(run_dir / "seed-2"), "--quiet"]) == 0
    assert f"stopped: 0 rounds done; outputs in {run_dir / 'seed-2'}" in capsys.readouterr().out
