"""Engine selection and the llama.cpp code path, with a fake ``llama_cpp`` package."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from evokd.teacher.local import engine_loader, engines
from evokd.teacher.local.engine_loader import load_engine
from evokd.teacher.local.engines import Engine, Generation, GenerationRequest
from evokd.teacher.local.llama_engine import LlamaCppEngine

FAKE_LLAMA_CPP = '''
CALLS = []


class Llama:
    def __init__(self, model_path, **kwargs):
        self.model_path, self.kwargs = model_path, kwargs

    def create_chat_completion(self, **kwargs):
        CALLS.append(kwargs)
        if kwargs["messages"][-1]["content"] == "too long":
            raise ValueError("Requested tokens (9000) exceed context window of 4096")
        return {"choices": [{"message": {"role": "assistant", "content": '{"a": 1}'}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}
'''

USER_X = [{"role": "user", "content": "x"}]


@pytest.fixture
def fake_llama_cpp(tmp_path, monkeypatch):
    (tmp_path / "llama_cpp").mkdir()
    (tmp_path / "llama_cpp" / "__init__.py").write_text(FAKE_LLAMA_CPP)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    yield importlib.import_module("llama_cpp")
    sys.modules.pop("llama_cpp", None)


def test_auto_prefers_llama_cpp_and_passes_the_schema(fake_llama_cpp, tmp_path):
    engine = load_engine("auto", tmp_path / "m.gguf", threads=3, context=2048)
    assert isinstance(engine, LlamaCppEngine) and isinstance(engine, Engine)
    assert engine.llm.kwargs["n_ctx"] == 2048 and engine.llm.kwargs["n_threads"] == 3
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = engine.generate(GenerationRequest(USER_X, 32, 0.0, 5, schema, ["END"]))
    assert out == Generation('{"a": 1}', 11, 5)
    call = fake_llama_cpp.CALLS[-1]
    assert call["response_format"] == {"type": "json_object", "schema": schema}
    assert (call["max_tokens"], call["temperature"], call["seed"], call["stop"]) == (
        32, 0.0, 5, ["END"])
    engine.generate(GenerationRequest(USER_X, 8, 0.5, None, {}, []))
    assert fake_llama_cpp.CALLS[-1]["response_format"] == {"type": "json_object"}
    engine.generate(GenerationRequest(USER_X, 8, 0.5, None, None, []))
    assert fake_llama_cpp.CALLS[-1]["response_format"] is None
    with pytest.raises(engines.ContextLengthError):
        engine.generate(GenerationRequest([{"role": "user", "content": "too long"}],
                                          8, 0.0, None, None, []))
    assert engine.describe()["constrained_json"] is True


def test_llama_cpp_requested_but_missing_is_clear(monkeypatch):
    monkeypatch.setattr(engine_loader, "llama_cpp_available", lambda: False)
    with pytest.raises(RuntimeError, match="--engine transformers"):
        load_engine("llama_cpp", Path("m.gguf"))
    with pytest.raises(ValueError, match="unknown engine"):
        load_engine("vllm", Path("m.gguf"))


def test_default_threads_from_env(monkeypatch):
    monkeypatch.setenv("EVOKD_TEACHER_THREADS", "3")
    assert engines.default_threads() == 3
    monkeypatch.setenv("EVOKD_TEACHER_THREADS", "zero")
    assert engines.default_threads() >= 1


def test_transformers_precision_on_the_cpu() -> None:
    import torch

    from evokd.teacher.local.hf_engine import _placement, cpu_has_fast_bf16

    assert _placement("cpu", "fp32") == ("cpu", torch.float32)
    assert _placement("cpu", "bf16") == ("cpu", torch.bfloat16)
    native = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    assert _placement("cpu", "auto") == ("cpu", native)
    with pytest.raises(ValueError, match="precision"):
        _placement("cpu", "fp8")
