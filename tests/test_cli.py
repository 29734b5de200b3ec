"""Bad input: exit code 2 and one clear line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.data import copy_subset

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path = ROOT, env_extra: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert text in lines[0], lines[0]


def _conll(root: Path, split: str = "train") -> Path:
    return root / "conll03" / f"{split}.txt"


def _sst2(root: Path, split: str = "train") -> Path:
    return root / "sst2" / f"{split}.jsonl"


def _insert_line(path: Path, index: int, line: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines.insert(index, line)
    path.write_text("\n".join(lines), encoding="utf-8")


def _fake_run(root: Path, task: str = "conll03", checkpoints: bool = False) -> Path:
    """A run directory as an earlier run leaves it (config.json, maybe checkpoints)."""
    from evokd.graph.config import RunConfig

    run = root / "old-run"
    run.mkdir()
    config = RunConfig(task=task, run_dir=str(run), data_dir=str(root), rounds=0)
    (run / "config.json").write_text(config.to_json(), encoding="utf-8")
    if checkpoints:
        (run / "checkpoints.sqlite").write_bytes(b"")
    return run


def _remove(path: Path) -> Path:
    path.unlink()
    return path


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


NER = ("--task", "conll03", "--rounds", "0")
CLS = ("--task", "sst2", "--rounds", "0")


def _on_data(task_args: tuple[str, ...], damage: Callable[[Path], object]
             ) -> Callable[[Path], list[str]]:
    """A case that damages the copied data, then runs ``task_args`` on it."""
    def prepare(root: Path) -> list[str]:
        damage(root)
        return [*task_args, "--data-dir", str(root)]
    return prepare


# id -> (prepare(data root) -> argv, the error line must contain each of these texts);
# every message says what is wrong and what to do about it
CASES = {
    "unknown task": (lambda r: ["--task", "conll99"],
                     ["unknown task 'conll99'", "choose one of: ag_news, conll03"]),
    "no task": (lambda r: ["--rounds", "0"], ["--task is required (or --resume DIR)"]),
    "no data dir": (lambda r: [*NER, "--data-dir", str(r / "none")],
                    ["does not exist", "pass --data-dir or set EVOKD_DATA_DIR"]),
    "task not in data dir": (lambda r: ["--task", "imdb", "--rounds", "0", "--data-dir", str(r)],
                             ["no data for task 'imdb'", "pass --data-dir"]),
    "missing split": (_on_data(NER, lambda r: _remove(_conll(r, "dev"))),
                      ["data file not found", "dev.txt", "needs its train, dev and test"]),
    "empty file": (_on_data(NER, lambda r: _write(_conll(r, "test"), "")),
                   ["test.txt: the split is empty", "at least one example"]),
    "only DOCSTART": (_on_data(NER, lambda r: _write(_conll(r, "dev"), "-DOCSTART- -X- -X- O\n\n")),
                      ["dev.txt: the split is empty"]),
    "not UTF-8": (_on_data(CLS, lambda r: _write(_sst2(r), "caf\u00e9".encode("latin-1"))),
                  ["train.jsonl: not UTF-8 text (byte 3)", "convert it to UTF-8"]),
    "malformed CoNLL line": (_on_data(NER, lambda r: _insert_line(_conll(r), 5, "lonely")),
                             ["train.txt:6: malformed CoNLL line 'lonely'",
                              "expected 'token ... TAG'"]),
    "unknown CoNLL tag": (_on_data(NER, lambda r: _insert_line(_conll(r), 5, "Oslo NN O B-CITY")),
                          ["train.txt:6: unknown tag 'B-CITY'",
                           "expected a type among PER, ORG, LOC, MISC"]),
    "wrong JSONL label": (_on_data(CLS, lambda r: _insert_line(
        _sst2(r, "dev"), 0, '{"text": "fine", "label": "neutral"}')),
        ["dev.jsonl:1: unknown label 'neutral'", "one of negative, positive"]),
    "JSONL label index out of range": (_on_data(CLS, lambda r: _insert_line(
        _sst2(r, "test"), 2, '{"text": "fine", "label": 7}')),
        ["test.jsonl:3: unknown label 7", "expected 0-1"]),
    "JSONL not JSON": (_on_data(CLS, lambda r: _insert_line(_sst2(r), 0, "{text: fine")),
                       ["train.jsonl:1: not valid JSON", "one JSON object a line"]),
    "JSONL without text": (_on_data(CLS, lambda r: _insert_line(_sst2(r), 0, '{"label": 1}')),
                           ['train.jsonl:1: expected the fields "text" and "label"']),
    "resume of no run": (lambda r: ["--resume", str(r)],
                         ["is not a run directory", "--run-dir of an earlier run"]),
    "resume with broken config": (lambda r: ["--resume", str(_write(
        _fake_run(r) / "config.json", "{broken").parent)],
        ["unreadable run config", "start a new one with another --run-dir"]),
    "resume of another task's run": (lambda r: ["--resume", str(_fake_run(r)), "--task", "sst2"],
                                     ["is a run of task 'conll03', not 'sst2'",
                                      "resume it without --task"]),
    "run dir of an existing run": (lambda r: [*NER, "--data-dir", str(r), "--run-dir",
                                              str(_fake_run(r, checkpoints=True))],
                                   ["already holds a run", "--resume", "another --run-dir"]),
}
BELOW_MINIMUM = {"--rounds": ("-1", 0), "--k-shot": ("0", 1), "--seed": ("-1", 0),  # value, min
                 "--max-concurrency": ("0", 1), "--samples-per-round": ("0", 1),
                 "--budget-tokens": ("0", 1)}
NOT_WHOLE = {"--rounds": "three", "--k-shot": "1.5", "--max-concurrency": "x"}
FLAGS = [  # (flag, value, the error after "argument FLAG: "); out-of-range and non-numbers alike
    *((flag, value, f"expected a number >= {minimum}, got {value}")
      for flag, (value, minimum) in BELOW_MINIMUM.items()),
    *((flag, value, f"expected a whole number, got {value!r}")
      for flag, value in NOT_WHOLE.items()),
    ("--timeout", "0", "expected a number of seconds > 0, got 0"),
    ("--timeout", "nan", "expected a number of seconds > 0"),
    ("--teacher", "gpt", "invalid choice: 'gpt'"),
]
for flag, value, error in FLAGS:
    CASES[f"{flag} {value}"] = (lambda r, f=flag, v=value: ["--task", "conll03", f, v],
                               [f"argument {flag}: {error}", "(see --help)"])


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    copy_subset("conll03", tmp_path, {"train": 30, "dev": 5, "test": 5})
    copy_subset("sst2", tmp_path, {"train": 30, "dev": 5, "test": 5})
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(case: str, data_root: Path) -> None:
    prepare, texts = CASES[case]
    result = _cli(*prepare(data_root), env_extra={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and lines[0].startswith("evokd: error: ")
    for text in texts:
        assert text in lines[0], lines[0]


def test_the_local_teacher_gets_its_own_defaults_and_flags_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from evokd import main
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    base = ["--task", "conll03", "--data-dir", str(tmp_path)]
    local = main.config_from_args(main.build_parser().parse_args(base))
    remote = main.config_from_args(main.build_parser().parse_args(
        [*base, "--base-url", "http://127.0.0.1:9/v1"]))
    assert (local.teacher, remote.teacher) == ("local", "openai")
    assert (local.texts_per_call, local.llm_critic, local.prompts,
            local.reply_retries) == (1, False, "compact", 0)
    assert (remote.rounds, remote.samples_per_round, remote.texts_per_call,
            remote.llm_critic, remote.prompts, remote.reply_retries) == (
                3, 16, 4, True, "full", 2)
    chosen = main.config_from_args(main.build_parser().parse_args(
        [*base, "--texts-per-call", "3", "--critic-batch", "2", "--prompts", "full"]))
    assert (chosen.texts_per_call, chosen.critic_batch, chosen.prompts) == (3, 2, "full")
    assert chosen.llm_critic is False
    back = main.config_from_args(main.build_parser().parse_args([*base, "--llm-critic"]))
    assert back.llm_critic is True and back.prompts == "compact"  # undoes that preset switch


@pytest.mark.parametrize("flags, named", [
    (["--model", "gpt-4o-mini"], "--model gpt-4o-mini"),
    (["--teacher", "openai"], "--teacher openai"),
])
def test_a_remote_teacher_without_a_key_stops_instead_of_running_the_local_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flags: list[str], named: str,
) -> None:
    from evokd import main
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    run_dir = tmp_path / "run"
    code = main.main(["--task", "conll03", "--data-dir", str(tmp_path), "--run-dir",
                      str(run_dir), *flags])
    err = capsys.readouterr().err
    assert code == 2 and not run_dir.exists()
    assert err.count("\n") == 1 and named in err and "OPENAI_API_KEY is not set" in err
    # a server of one's own needs no key; the local teacher only when nothing remote is asked
    base = ["--task", "conll03", "--data-dir", str(tmp_path)]
    own = main.config_from_args(main.build_parser().parse_args(
        [*base, *flags, "--base-url", "http://127.0.0.1:9/v1"]))
    assert own.teacher == "openai" and own.base_url == "http://127.0.0.1:9/v1"
    local = main.config_from_args(main.build_parser().parse_args([*base, "--teacher", "local"]))
    assert local.teacher == "local"
    seed_only = main.config_from_args(main.build_parser().parse_args([*base, *flags,
                                                                      "--rounds", "0"]))
    assert seed_only.rounds == 0  # no teacher is needed for the seed student alone
