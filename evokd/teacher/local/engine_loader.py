"""Picking and loading the local teacher's engine by name (``--engine``): the engines are
looked up here, and none of them imports this module back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from evokd.teacher.local.engines import DEFAULT_CONTEXT, Engine

ENGINES = ("auto", "transformers", "llama_cpp")


def llama_cpp_available() -> bool:
    """True when llama-cpp-python can be imported."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def load_engine(kind: str, model_path: Path, threads: int | None = None,
                context: int = DEFAULT_CONTEXT, weights_cache: Path | None = None,
                device: str = "auto", precision: str = "auto") -> Engine:
    """Load ``model_path`` with engine ``kind`` (auto: llama_cpp when importable).

    ``weights_cache``, ``device`` and ``precision`` (transformers only): a folder for the
    dequantised weights, where the model runs (auto: a CUDA GPU when there is one, else the
    CPU) and in what (auto: bf16 where the hardware has it, else fp32 on the CPU).
    """
    if kind not in ENGINES:
        raise ValueError(f"unknown engine {kind!r}; choose one of {', '.join(ENGINES)}")
    if kind == "auto":
        kind = "llama_cpp" if llama_cpp_available() else "transformers"
    if kind == "llama_cpp":
        if not llama_cpp_available():
            raise RuntimeError(
                "engine llama_cpp needs llama-cpp-python (pip install llama-cpp-python; see "
                "docs for the CPU build flags) — or use --engine transformers"
            )
        from evokd.teacher.local.llama_engine import LlamaCppEngine

        return LlamaCppEngine(model_path, threads, context)
    from evokd.teacher.local.hf_engine import TransformersEngine

    return TransformersEngine(model_path, threads, context, weights_cache, device, precision)
