"""The k-shot baseline end to end with a tiny backbone: training, saving, scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from seqeval.metrics import f1_score
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from evokd import main
from evokd.student import Student, TrainSettings
from evokd.tasks import load_task_data, resolve_task
from fakes.data import read_jsonl

pytestmark = pytest.mark.slow  # every test trains a student

FAST = ["--train-steps", "40", "--quiet"]


def _run(tmp_path: Path, tiny_backbone: Path, tiny_data: Path, *extra: str) -> Path:
    run_dir = tmp_path / "run"
    code = main.main(["--task", "conll03", "--rounds", "0", "--k-shot", "1", "--seed", "1",
                      "--student", str(tiny_backbone), "--data-dir", str(tiny_data),
                      "--run-dir", str(run_dir), *FAST, *extra])
    assert code == 0
    return run_dir


def _independent_predictions(student_dir: Path, examples: list[dict]) -> list[list[str]]:
    """First-sub-word predictions computed here, not by the project's predict()."""
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    model = AutoModelForTokenClassification.from_pretrained(student_dir).eval()
    id2label = model.config.id2label
    result = []
    for example in examples:
        enc = tokenizer(example["tokens"], is_split_into_words=True, truncation=True,
                        max_length=128, return_tensors="pt")
        with torch.no_grad():
            best = model(**enc).logits[0].argmax(-1).tolist()
        tags, seen = ["O"] * len(example["tokens"]), set()
        for position, word in enumerate(enc.word_ids()):
            if word is not None and word not in seen:
                seen.add(word)
                tags[word] = id2label[best[position]]
        result.append(tags)
    return result


def test_reported_test_f1_is_seqeval_on_the_saved_students_predictions(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path
) -> None:
    run_dir = _run(tmp_path, tiny_backbone, tiny_data, "--train-steps", "120")
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [row["round"] for row in metrics] == [0]
    test = load_task_data(resolve_task("conll03", tiny_data)).test
    predicted = _independent_predictions(run_dir / "student", test)
    expected = f1_score([ex["tags"] for ex in test], predicted)
    assert metrics[0]["test_f1"] == expected
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "conll03" and config["rounds"] == 0
    assert (run_dir / "graph.mmd").read_text().startswith("---")


def test_saved_student_works_in_a_transformers_pipeline(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path
) -> None:
    run_dir = _run(tmp_path, tiny_backbone, tiny_data)
    tagger = pipeline("token-classification", model=str(run_dir / "student"))
    output = tagger("Peter Blackburn visited Brussels .")
    labels = set(resolve_task("conll03", tiny_data).tag_set)
    assert all(item["entity"] in labels for item in output)


def test_same_seed_same_seed_set_and_scores(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path
) -> None:
    first = read_jsonl(_run(tmp_path / "a", tiny_backbone, tiny_data) / "metrics.jsonl")
    second = read_jsonl(_run(tmp_path / "b", tiny_backbone, tiny_data) / "metrics.jsonl")
    assert first == second


def test_training_lowers_the_loss(tiny_backbone: Path, tiny_data: Path) -> None:
    spec = resolve_task("conll03", tiny_data)
    data = load_task_data(spec)
    student = Student.create(spec, str(tiny_backbone), seed=1)
    losses: list[float] = []
    student.train(data.train[:32], TrainSettings(min_steps=60, learning_rate=1e-3),
                  lambda step, total, loss: losses.append(loss))
    assert len(losses) == 60
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_classification_run_reports_accuracy_and_macro_f1(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path, capsys
) -> None:
    code = main.main(["--task", "sst2", "--rounds", "0", "--k-shot", "5",
                      "--student", str(tiny_backbone), "--data-dir", str(tiny_data),
                      "--run-dir", str(tmp_path / "cls"), *FAST])
    assert code == 0
    row = read_jsonl(tmp_path / "cls" / "metrics.jsonl")[0]
    assert 0.0 <= row["test_accuracy"] <= 1.0 and 0.0 <= row["test_f1"] <= 1.0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "test macro-F1" in out
    model_config = json.loads((tmp_path / "cls" / "student" / "config.json").read_text())
    assert set(model_config["id2label"].values()) == {"negative", "positive"}
