"""What a finished run gives a user: the closing lines, the model card, the CoNLL export,
``main.py predict`` on the student, the line of a round that kept nothing, and ``--help``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from evokd import main
from evokd.core.rundir import RunDir
from evokd.inspection.model_card import write_model_card
from evokd.inspection.next_steps import load_snippet
from evokd.tasks import load_task_data, resolve_task
from evokd.tasks.readers import read_conll
from evokd.tasks.sampler import seed_examples
from fakes.data import read_jsonl
from fakes.scripted_teacher import reply
from tests.loop_runs import RunLoop


def card(run_dir: Path) -> tuple[dict[str, Any], str]:
    """The YAML metadata and the body of the student's model card."""
    text = (run_dir / "student" / "README.md").read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def test_an_ner_run_says_what_next_and_ships_a_card_and_conll(
        run_loop: RunLoop, env_key, tiny_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = run_loop(reply, rounds=1).run_dir
    out = capsys.readouterr().out
    closing = out[out.index("stopped:"):]
    assert f"report:   {run_dir / 'report.html'}" in closing
    assert f"python main.py trace {run_dir}" in closing and f"main.py view {run_dir}" in closing
    assert f"python main.py predict {run_dir}" in closing
    assert "\n".join(f"    {line}" for line in load_snippet(str(run_dir / "student"), "ner")
                     ) in closing

    meta, body = card(run_dir)
    spec = resolve_task("conll03", tiny_data)
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    best = max(metrics, key=lambda r: (r["dev_f1"], -r["round"]))
    assert meta["pipeline_tag"] == "token-classification" and meta["language"] == ["en"]
    assert meta["labels"] == list(spec.labels) and meta["metrics"] == ["f1"]
    assert "base_model" not in meta  # a local backbone path names nothing others can fetch
    [result] = meta["model-index"][0]["results"]
    assert result["metrics"][0]["value"] == round(100 * best["test_f1"], 2)
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert f"the run accepted {len(synthetic)} synthetic samples in all" in body
    seeds = seed_examples(spec, load_task_data(spec), 1, 1)
    assert f"Seed set: {len(seeds)} labelled examples (1 per label)" in body
    for label in spec.labels:
        dev = best["dev_per_label_f1"][label]
        assert re.search(rf"\| {label} \| {100 * dev:.2f} \|", body), label

    # the CoNLL export holds the same samples, and reads back as a task's data would
    exported = read_conll(run_dir / "synthetic.conll", spec.labels)
    assert exported == [{"tokens": s["tokens"], "tags": s["tags"]} for s in synthetic] != []
    # only the delivered student stays
    assert not (run_dir / "work").exists() and (run_dir / "student" / "config.json").exists()


def test_keep_work_keeps_every_rounds_student(run_loop: RunLoop, env_key) -> None:
    run_dir = run_loop(reply, "--keep-work", rounds=2).run_dir
    assert sorted(p.name for p in (run_dir / "work").iterdir()) == [
        "round-0", "round-1", "round-2"]


def test_prune_work_keeps_the_best_student_alone(tmp_path: Path) -> None:
    for name in ("round-0", "round-1", "round-2"):
        (tmp_path / "work" / name).mkdir(parents=True)
    removed = RunDir(tmp_path).prune_work(tmp_path / "work" / "round-1")
    assert [p.name for p in removed] == ["round-0", "round-2"]
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["round-1"]


def test_predict_labels_entities_and_reads_the_student_alone(
        run_loop: RunLoop, env_key, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = run_loop(reply, rounds=0).run_dir
    capsys.readouterr()
    assert main.main(["predict", str(run_dir), "--json", "Anna Berg left Oslo ."]) == 0
    [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["tokens"] == ["Anna", "Berg", "left", "Oslo", "."]
    assert len(record["tags"]) == 5 and isinstance(record["entities"], list)
    # the student folder alone is enough; the snippet of the card loads it with transformers
    student = run_dir / "student"
    assert main.main(["predict", str(student), "Anna Berg left Oslo ."]) == 0
    assert capsys.readouterr().out.startswith("Anna Berg left Oslo .\t")
    exec("\n".join(load_snippet(str(student), "ner")), {})
    assert capsys.readouterr().out.startswith("[")  # the entities found (maybe none)


def test_a_classification_run_with_compact_prompts_keeps_samples_and_predicts(
        run_loop: RunLoop, env_key, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = run_loop(reply, "--prompts", "compact", "--texts-per-call", "1",
                       task="sst2", rounds=1).run_dir
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert len(synthetic) == 8 and {s["label"] for s in synthetic} == {"negative", "positive"}
    assert not (run_dir / "synthetic.conll").exists()
    meta, _ = card(run_dir)
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["metrics"] == ["f1", "accuracy"]
    capsys.readouterr()
    texts = tmp_path / "texts.txt"
    texts.write_text("a warm , funny film\n\nthe plot is tedious\n", encoding="utf-8")
    assert main.main(["predict", str(run_dir), "--file", str(texts)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in lines] == ["a warm , funny film",
                                                      "the plot is tedious"]
    assert {line.split("\t")[0] for line in lines} <= {"negative", "positive"}


@pytest.mark.parametrize("argv, message", [
    (["predict", "no/such/run", "text"], "no/such/run: no such run directory"),
    (["predict", "{run}"], "no text to label"),
    (["predict", "{run}", "text", "--file", "{run}/config.json"], "not both"),
    (["predict", "{run}", "--file", "missing.txt"], "missing.txt: cannot read"),
])
def test_predict_bad_input_is_one_line_and_exit_2(
        argv: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    (run / "student").mkdir(parents=True)
    (run / "student" / "evokd_task.json").write_text(
        json.dumps({"task": "sst2", "kind": "cls", "labels": ["negative", "positive"]}))
    (run / "config.json").write_text("{}")
    assert main.main([arg.format(run=run) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evokd predict: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_round_that_keeps_nothing_says_why_and_where_to_read_more(
        fake_openai, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, env_key,
        capsys: pytest.CaptureFixture[str]) -> None:
    def copying(request: dict[str, Any]) -> str:
        if "You write training" not in request["messages"][0]["content"]:
            return reply(request)
        user = request["messages"][1]["content"]
        seed = json.loads(re.search(r'<example index="0">(.*?)</example>', user, re.S)[1])
        return json.dumps({"texts": [seed["text"].rstrip(" .") + " today ."]})

    server, run_dir = fake_openai(copying), tmp_path / "run"
    assert main.main([
        "--task", "conll03", "--rounds", "1", "--samples-per-round", "4", "--k-shot", "1",
        "--base-url", server.base_url, "--model", server.model, "--student", str(tiny_backbone),
        "--data-dir", str(tiny_data), "--run-dir", str(run_dir), "--train-steps", "5"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^round 1: kept 0, dropped (\d+) \(\1 seed_copy\); dev F1 ", err, re.M)
    line = next(line for line in err.splitlines() if "kept nothing" in line)
    assert line.startswith("round 1 kept nothing: mostly seed_copy (")
    assert line.endswith(f"every drop with its reason: python main.py trace {run_dir}")


def test_help_lists_every_subcommand_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = capsys.readouterr().out
    for name, (_, _, about) in main.SUBCOMMANDS.items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(about)}$", out, re.M), name


def test_a_card_that_cannot_be_written_is_one_line_not_a_failed_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "student").mkdir()
    (tmp_path / "config.json").write_text("{cut off", encoding="utf-8")
    assert write_model_card(tmp_path, teacher="t", seed_examples=1) is None
    err = capsys.readouterr().err
    assert err.startswith(f"evokd: {tmp_path / 'student' / 'README.md'} not written: ")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "student" / "README.md").exists()
