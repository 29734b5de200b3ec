"""Settings declared once: flags, config.json, the Python API and the README's flag table are
all made from the fields of RunConfig / Command (graph/config.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from evokd import docs, main
from evokd.core.errors import UserError
from evokd.core.rundir import RunDir
from evokd.core.settings import flag_fields, flag_name, keyword_values
from evokd.graph.config import LOCAL_PRESET, RunConfig, flags_markdown, setting_classes

ROOT = Path(__file__).resolve().parents[1]
BASE = ["--task", "sst2", "--rounds", "0", "--data-dir", str(ROOT.parent / "shared" / "data")]


def test_readme_flag_table_is_the_one_made_from_the_fields() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert flags_markdown() in readme, (
        "README's flag table is out of date; rewrite it with: python -m evokd.docs")


def test_evokd_docs_rewrites_a_stale_flag_table(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Flags\n\n| flag | default | what it does |\n|---|---|---|\n"
                      "| `--gone` | 1 | a flag that no longer exists |\n\nAfter the table.\n",
                      encoding="utf-8")
    assert docs.main([str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text == "# Flags\n\n" + flags_markdown().rstrip("\n") + "\n\nAfter the table.\n"
    assert docs.main([str(readme)]) == 0 and readme.read_text(encoding="utf-8") == text
    readme.write_text("no table here\n", encoding="utf-8")
    assert docs.main([str(readme)]) == 2


def test_every_flag_is_its_field_name_in_kebab_case() -> None:
    help_text = main.build_parser().format_help()
    for f in (f for cls in setting_classes() for f in flag_fields(cls)):
        kebab = f.name.replace("_", "-")
        assert flag_name(f) in (f"--{kebab}", f"--no-{kebab}")
        assert flag_name(f) in help_text
    hidden = {f.name for f in dataclasses.fields(RunConfig)} - {
        f.name for f in flag_fields(RunConfig)}
    # the resolved task, written by the run; the optional roles switched on, by their own flags
    assert hidden == {"task_spec", "roles"}


@pytest.mark.parametrize(("argv", "field", "value"), [
    (["--train-steps", "7"], "train_steps", 7),
    (["--timeout", "2.5"], "timeout", 2.5),
    (["--no-correct"], "correct", False),
    (["--no-cache"], "cache", False),
    (["--replay", "3"], "replay", 3),
    (["--learning-rate", "0.001"], "learning_rate", 0.001),
    (["--k-shot", "all"], "k_shot", None),
])
def test_a_flag_sets_its_field(argv: list[str], field: str, value: object) -> None:
    config = main.config_from_args(main.build_parser().parse_args([*BASE, *argv]))
    assert getattr(config, field) == value
    assert json.loads(config.to_json())[field] == value


def test_an_optional_role_is_switched_on_by_its_own_flag() -> None:
    parser = main.build_parser()
    assert main.config_from_args(parser.parse_args(BASE)).roles == ()
    config = main.config_from_args(parser.parse_args([*BASE, "--reviewer"]))
    assert config.roles == ("reviewer",) and config.role_on("reviewer")
    assert json.loads(config.to_json())["roles"] == ["reviewer"]


def test_local_preset_is_data_and_flags_win_over_it() -> None:
    base = [a for a in BASE if a not in ("--rounds", "0")]
    local = main.config_from_args(main.build_parser().parse_args([*base, "--teacher", "local"]))
    for name, value in LOCAL_PRESET.items():
        assert getattr(local, name) == value
    mine = main.config_from_args(main.build_parser().parse_args(
        [*base, "--teacher", "local", "--critic-batch", "4"]))
    assert mine.critic_batch == 4 and mine.reply_retries == LOCAL_PRESET["reply_retries"]


def test_a_switch_the_local_preset_flips_can_be_undone() -> None:
    base = [a for a in BASE if a not in ("--rounds", "0")]
    settings = {"task": "sst2", "data_dir": str(ROOT.parent / "shared" / "data"),
                "teacher": "local"}
    assert main.config_from_settings({**settings, "llm_critic": True}).llm_critic is True
    assert main.config_from_settings(settings).llm_critic is False
    parse = main.build_parser().parse_args
    on = main.config_from_args(parse([*base, "--teacher", "local", "--llm-critic"]))
    off = main.config_from_args(parse([*base, "--teacher", "local"]))
    assert (on.llm_critic, off.llm_critic) == (True, False)
    assert "--llm-critic" in flags_markdown()


def test_api_keywords_are_the_settings_checked_as_their_flags() -> None:
    classes = setting_classes()
    assert keyword_values({"cache": False, "reviewer": True, "easy": True, "rounds": 2,
                           "seeds": [1, 2], "no_history": True, "student": None,
                           "k_shot": "all", "run_dir": Path("r")}, classes, "distill") == {
        "cache": False, "reviewer": True, "easy": True, "rounds": 2, "seeds": [1, 2],
        "history": False, "k_shot": None, "run_dir": "r"}
    with pytest.raises(UserError, match=r"rounds=-1: expected a number >= 0"):
        keyword_values({"rounds": -1}, classes, "distill")
    with pytest.raises(UserError, match="structured_method='xml': choose one of"):
        keyword_values({"structured_method": "xml"}, classes, "distill")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        keyword_values({"colour": "blue"}, classes, "distill")
    with pytest.raises(TypeError, match="'no_rounds'"):  # no_ undoes a switch only
        keyword_values({"no_rounds": True}, classes, "distill")


def test_config_from_before_the_rename_still_reads(tmp_path: Path) -> None:
    old = {"task": "sst2", "run_dir": "r", "data_dir": ".", "seed_steps": 11, "timeout_s": 9.0,
           "correct_samples": False, "use_cache": False, "gone_setting": 1, "reviewer": True}
    (tmp_path / "config.json").write_text(json.dumps(old), encoding="utf-8")
    config = RunConfig.from_run_dir(RunDir(tmp_path))
    assert (config.train_steps, config.timeout, config.correct, config.cache) == (
        11, 9.0, False, False)
    assert config.roles == ("reviewer",)
    assert config.quote_errors == 0  # from before quoting: resumes quoting nothing
    (tmp_path / "config.json").write_text(RunConfig(task="sst2").to_json(), encoding="utf-8")
    assert RunConfig.from_run_dir(RunDir(tmp_path)).quote_errors is None  # auto stays auto


def test_api_keywords_and_flags_make_the_same_config(tmp_path: Path) -> None:
    data = str(ROOT.parent / "shared" / "data")
    flags = ["--task", "sst2", "--data-dir", data, "--teacher", "local", "--rounds", "4",
             "--no-cache", "--reviewer", "--k-shot", "all", "--llm-critic", "--no-easy",
             "--run-dir", str(tmp_path / "r"), "--learning-rate", "1e-4"]
    keywords = {"task": "sst2", "data_dir": data, "teacher": "local", "rounds": 4,
                "cache": False, "reviewer": True, "k_shot": "all", "llm_critic": True,
                "no_easy": True, "run_dir": tmp_path / "r", "learning_rate": 1e-4}
    from_flags = main.config_from_args(main.build_parser().parse_args(flags))
    from_api = main.config_from_settings(keyword_values(keywords, setting_classes(), "distill"))
    assert from_api == from_flags
    assert (from_api.rounds, from_api.k_shot, from_api.easy, from_api.roles) == (
        4, None, False, ("reviewer",))
