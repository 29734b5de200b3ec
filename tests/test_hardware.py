"""The student on real hardware: device and precision selection, truncation counting, and
every tokenizer family end to end (tiny random encoders built locally)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evokd.core.devices import pick_device
from evokd.core.errors import UserError
from evokd.student import Student, TrainSettings
from evokd.student.encoding import encode
from evokd.student.hardware import Hardware, pick_precision, resolve_hardware
from evokd.student.model import load_tokenizer
from evokd.tasks.spec import TaskSpec
from fakes.backbones import FAMILIES, build_backbone
from fakes.data import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
NER = TaskSpec(name="t", kind="ner", description="", labels=("PER", "ORG", "LOC", "MISC"),
               label_descriptions={}, data_format="conll")
CLS = TaskSpec(name="s", kind="cls", description="", labels=("negative", "positive"),
               label_descriptions={}, data_format="jsonl")
SENTENCE = {"tokens": ["Anna", "Berg", "of", "Nordbank", "met", "Nordic", "officials", "in",
                       "Oslo", "."],
            "tags": ["B-PER", "I-PER", "O", "B-ORG", "O", "B-MISC", "O", "O", "B-LOC", "O"]}
REVIEWS = [{"text": "a warm , funny and moving film", "label": "positive"},
           {"text": "a dull , lifeless mess", "label": "negative"}]
HAS_GPU = torch.cuda.is_available()


def _expected_auto() -> str:
    if HAS_GPU:
        return "cuda:0"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def test_auto_picks_cuda_then_mps_then_cpu() -> None:
    assert pick_device("auto") == _expected_auto()
    assert pick_device("cpu") == "cpu"


@pytest.mark.slow
@pytest.mark.skipif(HAS_GPU, reason="checks the message on a machine without a GPU")
@pytest.mark.parametrize("flag, message", [
    ("cuda", "--device cuda: no CUDA GPU available"),
    ("cuda:1", "--device cuda:1: no CUDA GPU available"),
    ("tpu", "--device 'tpu': choose auto, cpu, cuda, cuda:N or mps"),
    *([] if _expected_auto() == "mps" else [("mps", "--device mps: Apple's Metal (MPS)")]),
])
def test_a_device_this_machine_lacks_is_one_line_exit_2(flag: str, message: str,
                                                        tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--task", "conll03", "--rounds", "0",
         "--device", flag, "--run-dir", str(run_dir), "--data-dir",
         str(ROOT.parent / "shared" / "data")],
        capture_output=True, text=True, timeout=180, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr
    assert not run_dir.exists()


def test_precision_selection() -> None:
    assert pick_precision("auto", "cpu") == "fp32"
    assert pick_precision("fp32", "cpu") == "fp32"
    assert pick_precision("bf16", "cpu") == "bf16"  # only when asked
    with pytest.raises(UserError, match="fp16 needs a GPU"):
        pick_precision("fp16", "cpu")
    with pytest.raises(UserError, match="choose one of auto, fp32, bf16, fp16"):
        pick_precision("int4", "cpu")
    if HAS_GPU:
        assert pick_precision("auto", "cuda:0") in ("bf16", "fp16")
    assert Hardware("cpu", "fp32").scaler() is None and Hardware("cpu", "fp32").dtype is None
    assert Hardware("cpu", "bf16").dtype == torch.bfloat16


@pytest.mark.slow
def test_bf16_autocast_trains_and_predicts_on_the_cpu(tiny_backbone: Path) -> None:
    student = Student.create(NER, str(tiny_backbone), 1, resolve_hardware("cpu", "bf16", 64))
    stats = student.train([SENTENCE] * 4, TrainSettings(min_steps=5, batch_size=4))
    assert stats["steps"] == 5 and stats["loss"] == stats["loss"]  # finite, not NaN
    assert len(student.predict([SENTENCE])[0]) == len(SENTENCE["tokens"])


@pytest.mark.slow
def test_truncation_is_counted_and_cut_words_are_tagged_o(tiny_backbone: Path) -> None:
    long = {"tokens": SENTENCE["tokens"] * 3, "tags": SENTENCE["tags"] * 3}
    student = Student.create(NER, str(tiny_backbone), 1, Hardware("cpu", "fp32", 12))
    item = encode(NER, student.tokenizer, long, student.label2id, 12)
    assert item["truncated"] and len(item["input_ids"]) == 12
    assert not encode(NER, student.tokenizer, SENTENCE, None, 128)["truncated"]
    [tags] = student.predict([long])
    assert student.last_truncated == 1 and len(tags) == 30 and set(tags[12:]) == {"O"}
    short = {"tokens": SENTENCE["tokens"][:3], "tags": SENTENCE["tags"][:3]}
    assert student.train([long, short], TrainSettings(min_steps=1))["truncated"] == 1
    text = {"text": " ".join(long["tokens"]), "label": "positive"}
    tokenizer = student.tokenizer
    assert encode(CLS, tokenizer, text, None, 12)["truncated"]
    exact = len(tokenizer(REVIEWS[0]["text"])["input_ids"])
    assert not encode(CLS, tokenizer, REVIEWS[0], None, exact)["truncated"]  # fits exactly


@pytest.mark.slow
def test_max_length_reaches_the_trace_and_config(tmp_path: Path, tiny_backbone: Path,
                                                  tiny_data: Path) -> None:
    from evokd import main
    run_dir = tmp_path / "run"
    assert main.main(["--task", "conll03", "--rounds", "0", "--train-steps", "5",
                      "--student", str(tiny_backbone), "--data-dir", str(tiny_data),
                      "--run-dir", str(run_dir), "--max-length", "16", "--quiet"]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["max_length"] == 16 and config["device"] == "auto"
    assert config["hardware"]["max_length"] == 16
    assert config["hardware"]["device"] == _expected_auto()
    assert config["hardware"]["device_name"]
    [event] = [e for e in read_jsonl(run_dir / "trace.jsonl") if e["event"] == "truncated"]
    assert event["round"] == 0 and event["max_length"] == 16
    assert event["dev"] > 0 and event["test"] > 0


def test_default_max_length_per_kind_and_from_the_task_file(tmp_path: Path) -> None:
    from evokd.graph.config import RunConfig
    from evokd.tasks import resolve_task
    from fakes.custom_tasks import ner_conll_task

    spec = resolve_task("sst2", tmp_path)
    cls = RunConfig(task="sst2", run_dir="r", data_dir=".", task_spec=spec.to_dict())
    assert cls.hardware().max_length == 256
    task = ner_conll_task(tmp_path)
    task.write_text(task.read_text() + "max_length: 64\n")
    ner = RunConfig(task="social", run_dir="r", data_dir=".",
                    task_spec=resolve_task(str(task), tmp_path).to_dict())
    assert ner.hardware().max_length == 64
    assert RunConfig(task="social", run_dir="r", data_dir=".", max_length=32,
                     task_spec=ner.task_spec).hardware().max_length == 32


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("families")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_tokenizer_family_aligns_trains_predicts_saves_and_loads(
    family: str, family_dir: Path
) -> None:
    backbone = build_backbone(family, family_dir / family)
    tokenizer = load_tokenizer(str(backbone), words=True)
    words = SENTENCE["tokens"]
    # pre-split words tokenize exactly as the sentence does (RoBERTa needs add_prefix_space)
    assert (tokenizer(words, is_split_into_words=True)["input_ids"]
            == tokenizer(" ".join(words))["input_ids"])

    student = Student.create(NER, str(backbone), 1)
    item = encode(NER, student.tokenizer, SENTENCE, student.label2id)
    # one label per word, on its first sub-word, in word order
    assert [x for x in item["labels"] if x != -100] == [student.label2id[t]
                                                        for t in SENTENCE["tags"]]
    losses: list[float] = []
    student.train([SENTENCE] * 4, TrainSettings(min_steps=40, batch_size=4, learning_rate=3e-3,
                                                warmup_ratio=0.0),
                  lambda step, total, loss: losses.append(loss))
    assert losses[-1] < losses[0] / 2
    predicted = student.predict([SENTENCE])
    student.save(family_dir / f"{family}-saved")
    reloaded = Student.load(NER, family_dir / f"{family}-saved")
    assert reloaded.predict([SENTENCE]) == predicted and len(predicted[0]) == len(words)

    classifier = Student.create(CLS, str(backbone), 1)
    classifier.train(REVIEWS * 2, TrainSettings(min_steps=30, batch_size=4, learning_rate=3e-3,
                                                warmup_ratio=0.0))
    assert classifier.predict(REVIEWS) == ["positive", "negative"]


@pytest.mark.slow
@pytest.mark.skipif(HAS_GPU, reason="checks the CPU-only path of the GPU check")
def test_device_check_says_no_accelerator_on_a_cpu_machine() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "device_check.py")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no accelerator:") and "Traceback" not in done.stderr
