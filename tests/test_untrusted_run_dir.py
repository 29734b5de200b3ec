"""A run directory from elsewhere is safe to resume: a crafted checkpoint is refused before
anything runs, the run works in the folder it is resumed from, flags given with --resume apply
or are refused by name, the key goes only to the endpoint named now (or, after a notice, to the
stored one), one process at a time works in a folder, and a full disk is one line."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import ormsgpack
import pytest

from evokd import main
from evokd.graph.config import RunConfig
from evokd.graph.resume import resumed_config, resumed_endpoint
from fakes.scripted_teacher import reply
from tests.reliability import ROUNDS, loop_args, metric_rounds
from tests.test_crash_resume import Run, _cut_checkpoints_after, _new_event

KEY = "sk-test-fake-key"


def _copy(reference: Path, where: Path) -> Path:
    """A copy of a finished run, as if unzipped from elsewhere (config.json still names the
    original folder and its server)."""
    shutil.copytree(reference, where)
    return where


@contextlib.contextmanager
def _away(folder: Path) -> Iterator[None]:
    """``folder`` moved aside for the block (and put back after it)."""
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    try:
        yield
    finally:
        aside.rename(folder)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_crafted_checkpoint_is_refused_and_nothing_runs(
    reference_run, tmp_path: Path, monkeypatch, capsys
) -> None:
    run_dir = _copy(reference_run.run_dir, tmp_path / "shared")
    marker = tmp_path / "pwned"
    payload = ormsgpack.packb({"note": ormsgpack.Ext(0, ormsgpack.packb(
        ("os", "system", f"touch {marker}")))})
    with sqlite3.connect(run_dir / "checkpoints.sqlite") as db:
        (thread, ns, checkpoint_id), = db.execute(
            "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints "
            "ORDER BY checkpoint_id DESC LIMIT 1")
        db.execute("INSERT INTO writes VALUES (?, ?, ?, 'crafted', '', 0, 'notes', 'msgpack', ?)",
                   (thread, ns, checkpoint_id, payload))
    trace_before = (run_dir / "trace.jsonl").read_bytes()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    assert main.main(["--resume", str(run_dir), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "os.system" in line and "nothing ran" in line and "--run-dir" in line
    assert not marker.exists()
    assert (run_dir / "trace.jsonl").read_bytes() == trace_before


def test_a_copied_run_resumes_in_its_own_folder_with_the_endpoint_named_now(
    reference_run, tmp_path: Path, fake_openai, monkeypatch, capsys, no_loaded_students
) -> None:
    run_dir = _copy(reference_run.run_dir, tmp_path / "copy")
    _cut_checkpoints_after(run_dir / "checkpoints.sqlite", "analyst")  # the last round's
    original = {p: p.stat().st_mtime_ns for p in reference_run.run_dir.rglob("*")}
    server = fake_openai(reply, api_key=KEY)  # 401 without the key; the stored one is gone
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    with _away(reference_run.run_dir):  # as on another machine: the original is not there
        assert main.main(["--resume", str(run_dir), "--base-url", server.base_url,
                          "--timeout", "5", "--quiet"]) == 0, capsys.readouterr().err
    assert server.calls > 0
    assert metric_rounds(run_dir) == list(range(ROUNDS + 1))
    assert {p: p.stat().st_mtime_ns for p in reference_run.run_dir.rglob("*")} == original
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["base_url"] == server.base_url and stored["timeout"] == 5.0
    assert stored["run_dir"] == str(run_dir)


def test_a_copy_without_its_round_students_is_refused_before_anything_runs(
    reference_run, tmp_path: Path, monkeypatch, capsys, no_loaded_students
) -> None:
    run_dir = _copy(reference_run.run_dir, tmp_path / "copy")
    _cut_checkpoints_after(run_dir / "checkpoints.sqlite", "analyst")
    shutil.rmtree(run_dir / "work")
    trace_before = (run_dir / "trace.jsonl").read_bytes()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    assert main.main(["--resume", str(run_dir), "--base-url", "http://127.0.0.1:9/v1",
                      "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "work/round-" in line and "copy the run folder whole" in line
    assert (run_dir / "trace.jsonl").read_bytes() == trace_before


def test_resume_names_the_stored_endpoint_before_sending_the_key_there(
    reference_run, tmp_path: Path, monkeypatch, capsys
) -> None:
    run_dir = _copy(reference_run.run_dir, tmp_path / "copy")
    stored_url = json.loads((run_dir / "config.json").read_text())["base_url"]
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert main.main(["--resume", str(run_dir), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"endpoint stored in {run_dir / 'config.json'}: {stored_url}" in err
    assert "OPENAI_API_KEY is sent there" in err and "--base-url" in err
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert main.main(["--resume", str(run_dir), "--dry-run"]) == 0
    assert "stored" not in capsys.readouterr().err


def test_flags_that_shape_the_run_are_refused_by_name(
    reference_run, tmp_path: Path, capsys
) -> None:
    run_dir = _copy(reference_run.run_dir, tmp_path / "copy")
    assert main.main(["--resume", str(run_dir), "--seed", "7", "--student", "other",
                      "--no-easy", "--reviewer"]) == 2
    line = _one_line(capsys.readouterr().err)
    for flag in ("--seed", "--student", "--no-easy", "--reviewer"):
        assert flag in line
    assert "cannot change when a run resumes" in line
    assert main.main(["--resume", str(run_dir), "--run-dir", str(tmp_path / "x")]) == 2
    assert "stays in its folder" in _one_line(capsys.readouterr().err)


def test_resumed_config_applies_what_may_change_and_keeps_the_rest(tmp_path: Path) -> None:
    stored = RunConfig(task="sst2", teacher="openai", base_url="http://a/v1", model="m",
                       rounds=3, seed=4, run_dir="/elsewhere/run")
    config = resumed_config(stored, {"rounds": 5, "model": "n", "seed": 4, "rpm": 10},
                            tmp_path)
    assert (config.rounds, config.model, config.rpm, config.seed) == (5, "n", 10, 4)
    assert config.run_dir == str(tmp_path)
    named, notice = resumed_endpoint(config, {}, {"OPENAI_BASE_URL": "http://b/v1"})
    assert named.base_url == "http://b/v1" and notice == ""
    local, notice = resumed_endpoint(config, {"teacher": "local"}, {"OPENAI_API_KEY": KEY})
    assert local.teacher == "local" and notice == ""
    kept, notice = resumed_endpoint(config, {}, {})
    assert kept.base_url == "http://a/v1" and notice == ""  # no key to send: nothing to say


def test_one_process_per_run_directory_and_a_killed_one_does_not_block(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai, monkeypatch, capsys
) -> None:
    server = fake_openai(reply, latency=0.5)
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    first = Run(loop_args(server.base_url, run_dir, tiny_backbone, tiny_data), logs, "first")
    first.wait_for(lambda: _new_event(run_dir, 0, "run_start"), "the first run to start")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    resume = ["--resume", str(run_dir), "--base-url", server.base_url, "--quiet"]
    assert main.main(resume) == 2  # a second process
    line = _one_line(capsys.readouterr().err)
    assert f"PID {first.process.pid}" in line and "in use by another evokd process" in line
    assert first.process.poll() is None  # the holder runs on

    assert first.signal(signal.SIGKILL) == -signal.SIGKILL  # its lock goes with it
    server.latency = 0.0
    assert main.main(resume) == 0, capsys.readouterr().err
    assert metric_rounds(run_dir) == list(range(ROUNDS + 1))
    trace = (run_dir / "trace.jsonl").read_text().splitlines()
    assert sum('"run_start"' in line for line in trace) == 2
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    for name in ("trace.jsonl", "synthetic.jsonl", "config.json", "checkpoints.sqlite"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600, name


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_space(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai, monkeypatch, capsys
) -> None:
    server = fake_openai(reply)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "trace.jsonl").symlink_to("/dev/full")  # every write there: ENOSPC
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert main.main(loop_args(server.base_url, run_dir, tiny_backbone, tiny_data)) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"no space left on the device while writing {run_dir / 'trace.jsonl'}" in line
    assert line.endswith(f"continue the run with: python main.py --resume {run_dir}")

    (run_dir / "trace.jsonl").unlink()  # space again
    assert main.main(["--resume", str(run_dir), "--quiet"]) == 0, capsys.readouterr().err
    assert metric_rounds(run_dir) == list(range(ROUNDS + 1))


def test_a_rerun_of_seeds_applies_or_refuses_what_changed(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai, monkeypatch, capsys
) -> None:
    server = fake_openai(reply)
    run_dir = tmp_path / "seeds"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    command = [*loop_args(server.base_url, run_dir, tiny_backbone, tiny_data), "--seeds", "1"]
    assert main.main(command) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main.main([*command, "--k-shot", "2"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--k-shot cannot change when a run resumes" in line and "seed-1" in line
    assert main.main([*command, "--timeout", "7"]) == 0, capsys.readouterr().err
    stored = json.loads((run_dir / "seed-1" / "config.json").read_text())
    assert stored["timeout"] == 7.0 and stored["k_shot"] == 1


def test_a_full_disk_is_recognised_through_sqlite_and_wrapped_errors() -> None:
    from evokd.core.rundir import full_disk

    assert full_disk(sqlite3.OperationalError("database or disk is full")) == (
        "the checkpoint database")
    try:
        try:
            raise OSError(28, "No space left on device", "student/model.safetensors")
        except OSError as exc:
            raise RuntimeError("saving failed") from exc
    except RuntimeError as wrapped:
        assert full_disk(wrapped) == "student/model.safetensors"
    assert full_disk(OSError(13, "Permission denied", "x")) is None
    assert full_disk(ValueError("full of surprises")) is None


def test_the_checkpoint_serializer_reads_plain_data_and_send_only() -> None:
    from langgraph.types import Send

    from evokd.graph.checkpoints import PlainDataSerializer, UnsafeCheckpoint

    serde = PlainDataSerializer()
    state = {"round": 2, "pool": [{"text": "Oslo", "tags": ["B-LOC"]}], "f1": 0.5,
             "fan_out": [Send("labeler", {"text": "Oslo"})]}
    assert serde.loads_typed(serde.dumps_typed(state)) == state
    call = ormsgpack.Ext(0, ormsgpack.packb(("os", "system", "true")))
    hidden = ormsgpack.Ext(1, ormsgpack.packb(("langgraph.types", "Send", ("labeler", call))))
    for kind, payload in (("msgpack", ormsgpack.packb({"a": call})),
                          ("msgpack", ormsgpack.packb([hidden])),
                          ("msgpack", ormsgpack.packb(ormsgpack.Ext(6, b"\x00"))),
                          ("json", b'{"lc": 2, "type": "constructor", "id": ["os", "system"]}'),
                          ("pickle", b"cos\nsystem\n.")):
        with pytest.raises(UnsafeCheckpoint):
            serde.loads_typed((kind, payload))


def test_student_paths_in_the_state_are_read_in_the_folder_that_is_resumed(
    tmp_path: Path,
) -> None:
    from evokd.core.rundir import RunDir

    run = RunDir(tmp_path / "copy")
    assert run.stored(run.work("round-2")) == "work/round-2"
    assert run.at("work/round-2") == tmp_path / "copy" / "work" / "round-2"
    # a checkpoint from before paths were stored relative names the original folder
    assert run.at("/elsewhere/run/work/round-1") == tmp_path / "copy" / "work" / "round-1"
