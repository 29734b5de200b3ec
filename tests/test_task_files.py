"""Task files: the bad-input matrix (exit 2, one line naming the file, nothing written), tag
schemes, the README's example task files, and the Python API ``evokd.distill``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

import evokd
from evokd.core.errors import UserError
from evokd.tasks import load_task_data, resolve_task
from evokd.tasks.tagging import to_iob2
from fakes.custom_tasks import (
    BUILDERS,
    ner_conll_task,
    ner_sentences,
    write_conll,
    write_tickets_csv,
    write_yaml,
)

ROOT = Path(__file__).resolve().parents[1]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _built(builder: str, edit: Callable[[Path], object]) -> Callable[[Path], Path]:
    """``prepare(root)``: the task file ``BUILDERS[builder]`` writes, with ``edit`` applied."""
    def prepare(root: Path) -> Path:
        task = BUILDERS[builder](root)
        edit(task)
        return task
    return prepare


_ner = partial(_built, "ner-conll-hyphenated")
_tickets = partial(_built, "cls-csv")
_jsonl = partial(_built, "cls-no-test")
_seeds = partial(_built, "ner-seeds-file")


# id -> (prepare(root) -> task file, texts the one error line must hold)
CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "task file missing": (lambda r: r / "nowhere.yaml", ["task file not found", "nowhere.yaml"]),
    "not YAML": (_ner(lambda t: _edit(t, "kind: ner\n", "kind: [ner\n")),
                 ["social.yaml:3: not valid YAML"]),
    "not a mapping": (_ner(lambda t: t.write_text("- just\n- a list\n")),
                      ["social.yaml: a task file is a YAML mapping"]),
    "unknown kind": (_ner(lambda t: _edit(t, "kind: ner", "kind: nerr")),
                     ["social.yaml:2: unknown kind 'nerr'", "use ner or classification"]),
    "unknown format": (_ner(lambda t: _edit(t, "format: conll", "format: xml")),
                       ["social.yaml:10: unknown format 'xml'", "conll, jsonl or csv"]),
    "no labels": (_ner(lambda t: t.write_text(re.sub(r"labels:\n(  .*\n)+", "labels: {}\n",
                                                     t.read_text()))),
                  ["social.yaml:5: no labels"]),
    "unknown key": (_ner(lambda t: _edit(t, "domain:", "domian:")),
                    ["social.yaml:4: unknown key 'domian'"]),
    "no dev split": (_ner(lambda t: _edit(t, "  dev: data/dev.conll\n", "")),
                     ["data.dev is missing"]),
    "data path does not exist": (_ner(lambda t: _edit(t, "data/dev.conll", "data/dve.conll")),
                                 ["data file not found", "dve.conll", "fix data.dev in"]),
    "CSV without the named field": (_tickets(lambda t: _edit(t, "text_field: body",
                                                             "text_field: message")),
                                    ["train.csv:1: no column 'message'", "text_field"]),
    "JSONL without the named field": (_jsonl(lambda t: _edit(t, "label_field: topic",
                                                             "label_field: category")),
                                      ["train.jsonl:1:", '"category"', "label_field"]),
    "undeclared NER tag": (_ner(lambda t: _edit(t, "  corporation: companies and brands\n", "")),
                           ["train.conll:", "unknown tag 'S-corporation'",
                            "declare it under labels:"]),
    "undeclared class label": (_tickets(lambda t: _edit(t, "  login: signing in, passwords, "
                                                        "accounts\n", "")),
                               ["train.csv:", "unknown label 'login'"]),
    "empty dev split": (_ner(lambda t: (t.parent / "data" / "dev.conll").write_text("\n")),
                        ["dev.conll: the split is empty"]),
    "seed file with no usable example": (
        _seeds(lambda t: write_conll(t.parent / "my_examples.conll",
                                     [[("hello", "O"), ("there", "O")]])),
        ["my_examples.conll: no usable seed example"]),
    "empty seed file": (_seeds(lambda t: (t.parent / "my_examples.conll").write_text("")),
                        ["my_examples.conll: the split is empty"]),
    "csv for NER": (_ner(lambda t: _edit(t, "format: conll", "format: csv")),
                    ["format csv holds classification data"]),
    "neither train nor seeds": (_ner(lambda t: _edit(t, "  train: data/train.conll\n", "")),
                                ["data needs train", "or seeds"]),
    "tags instead of types": (_ner(lambda t: _edit(t, "  person:", "  B-person:")),
                              ["declare entity types (PER), not tags"]),
    "hub dataset offline": (_ner(lambda t: t.write_text(
        t.read_text().split("format:")[0] + "data:\n  dataset: someone/some-ner\n  dev: v\n"
        "  train: t\n")), ["dataset 'someone/some-ner' is not a folder", "hub is offline"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_task_file_is_one_line_exit_2_and_writes_nothing(case: str, tmp_path: Path) -> None:
    prepare, texts = CASES[case]
    task = prepare(tmp_path / "task")
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "sk-unused"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--task", str(task), "--rounds", "0",
         "--run-dir", str(run_dir)], capture_output=True, text=True, env=env, timeout=120,
        cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("evokd: error: "), result.stderr
    for text in texts:
        assert text in lines[0], lines[0]
    assert not run_dir.exists()


@pytest.mark.parametrize("tags, expected", [
    (["I-PER", "I-PER", "O", "I-LOC", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]),
    (["S-PER", "B-creative-work", "I-creative-work", "E-creative-work", "S-LOC"],
     ["B-PER", "B-creative-work", "I-creative-work", "I-creative-work", "B-LOC"]),
    (["U-ORG", "B-ORG", "L-ORG", "O"], ["B-ORG", "B-ORG", "I-ORG", "O"]),
])
def test_iob1_and_bioes_become_iob2(tags: list[str], expected: list[str]) -> None:
    assert to_iob2(tags) == expected


def test_iob1_file_is_normalised_and_iob2_file_kept_as_written(tmp_path: Path) -> None:
    iob1 = [[("Anna", "I-person"), ("Berg", "I-person"), ("met", "O"), ("Lena", "I-person"),
             ("Tom", "B-person")]]
    write_conll(tmp_path / "train.conll", iob1)
    # an IOB2 file with an I- tag after O keeps it (conlleval reads it as a start anyway)
    write_conll(tmp_path / "dev.conll", [[("Oslo", "B-location"), ("x", "O"),
                                          ("Lyon", "I-location")], [("Graz", "B-location")]])
    task = write_yaml(tmp_path / "t.yaml", "kind: ner\nlabels: [person, location]\n"
                      "data: {train: train.conll, dev: dev.conll}\n")
    data = load_task_data(resolve_task(str(task), tmp_path))
    assert data.train[0]["tags"] == ["B-person", "I-person", "O", "B-person", "B-person"]
    assert data.dev[0]["tags"] == ["B-location", "O", "I-location"]


def test_csv_labels_by_name_and_defaults_from_the_file(tmp_path: Path) -> None:
    write_tickets_csv(tmp_path / "a.csv", 6, text="text", label="label")
    write_tickets_csv(tmp_path / "b.csv", 3, 10, text="text", label="label")
    task = write_yaml(tmp_path / "mini.yml", "kind: classification\n"
                      "labels: [billing, outage, login]\ndata: {train: a.csv, dev: b.csv}\n")
    spec = resolve_task(str(task), tmp_path)
    assert spec.name == "mini" and spec.data_format == "csv" and spec.kind == "cls"
    data = load_task_data(spec)
    assert [ex["label"] for ex in data.train] == ["billing", "outage", "login"] * 2


def _readme_task_files() -> dict[str, str]:
    """The YAML blocks of the README's "Your own task" section, by their ``name:``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own task", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    return {re.search(r"^name: (\S+)", b, re.M).group(1): b for b in blocks}


@pytest.mark.slow
def test_readme_task_files_work_as_written(tmp_path: Path) -> None:
    blocks = _readme_task_files()
    assert set(blocks) == {"social", "tickets"}
    ner = write_yaml(tmp_path / "social" / "task.yaml", blocks["social"])
    for split, offset in (("train", 0), ("dev", 100), ("test", 200)):
        write_conll(tmp_path / "social" / f"{split}.conll", ner_sentences(12, offset))
    cls = write_yaml(tmp_path / "tickets" / "task.yaml", blocks["tickets"])
    for split, offset in (("train", 0), ("dev", 100), ("test", 200)):
        write_tickets_csv(tmp_path / "tickets" / f"{split}.csv", 9, offset, text="text",
                          label="category")
    for task in (ner, cls):
        result = subprocess.run([sys.executable, str(ROOT / "main.py"), "task", str(task)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok: the task is ready to run" in result.stdout


@pytest.mark.slow
def test_distill_api_runs_a_custom_task_and_rejects_bad_settings(
    tmp_path: Path, tiny_backbone: Path
) -> None:
    task = ner_conll_task(tmp_path / "task")
    result = evokd.distill(task, rounds=0, student=tiny_backbone, train_steps=5,
                           run_dir=tmp_path / "run", quiet=True)
    assert result.run_dir == tmp_path / "run" and result.best_round == 0
    assert 0.0 <= result.dev_f1 <= 1.0 and result.test_f1 is not None
    metrics = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    assert metrics[0]["dev_f1"] == result.dev_f1
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        evokd.distill(task, rounds=0, colour="blue", run_dir=tmp_path / "x")
    with pytest.raises(UserError, match="expected a number >= 1"):
        evokd.distill(task, rounds=1, samples_per_round=0, run_dir=tmp_path / "y")
    with pytest.raises(UserError, match="task file not found"):
        evokd.distill(tmp_path / "missing.yaml", rounds=0)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.slow
def test_evokd_console_command_is_installed() -> None:
    command = Path(sys.executable).parent / "evokd"
    assert command.exists(), "pip install -e . installs the evokd command"
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "--task NAME|FILE" in result.stdout


def test_topics_key_is_read_and_checked(tmp_path: Path) -> None:
    from evokd.tasks import resolve_task

    (tmp_path / "dev.jsonl").write_text('{"text": "a", "label": "x"}\n')
    body = ("kind: classification\nlabels: [x, y]\nformat: jsonl\ndata: {train: dev.jsonl, "
            "dev: dev.jsonl}\n")
    good = tmp_path / "good.yaml"
    good.write_text(body + "topics: [billing, outages]\n")
    assert resolve_task(str(good), tmp_path).topics == ("billing", "outages")
    bad = tmp_path / "bad.yaml"
    bad.write_text(body + "topics: billing\n")
    with pytest.raises(UserError, match=r"bad.yaml:\d+: topics must be a list"):
        resolve_task(str(bad), tmp_path)
