"""Inference engines behind the local teacher server.

The server only knows the ``Engine`` protocol. Two product engines implement it:
``TransformersEngine`` (hf_engine.py; default, no compiler needed) and ``LlamaCppEngine``
(llama_engine.py; faster, grammar-constrained JSON) when llama-cpp-python is importable.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

ENGINES = ("auto", "transformers", "llama_cpp")
PRECISIONS = ("auto", "fp32", "bf16")  # of the transformers engine
DEFAULT_CONTEXT = 4096


class Generation(NamedTuple):
    """One completion: the text and its token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class GenerationRequest(NamedTuple):
    """One chat completion for an engine to generate."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    seed: int | None
    json_schema: dict[str, Any] | None  # asks for a JSON reply ({} = any JSON object)
    stop: list[str]


class ContextLengthError(ValueError):
    """The prompt plus ``max_tokens`` does not fit the engine's context window."""


class GenerationCancelled(RuntimeError):
    """The engine was closed while a generation was running."""


@runtime_checkable
class Engine(Protocol):
    """What the server needs from an inference backend (called from one worker thread)."""

    name: str
    constrained: bool  # True: json_schema is enforced while decoding

    def generate(self, request: GenerationRequest) -> Generation:
        """Complete the chat; ``request.json_schema`` asks for a JSON reply."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able facts about the engine (name, threads, context, load time)."""
        ...

    def close(self) -> None:
        """Stop any running generation soon and release resources."""
        ...


def default_threads() -> int:
    """Torch/llama.cpp threads: ``$EVOKD_TEACHER_THREADS`` or every core available.

    Torch threads spin-wait by default and collapse (4-5x slower) when other processes use the
    cores; the server sets ``OMP_WAIT_POLICY=PASSIVE`` before importing torch to avoid that.
    """
    env = os.environ.get("EVOKD_TEACHER_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


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
