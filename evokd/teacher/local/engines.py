"""What an inference engine behind the local teacher server is: the ``Engine`` protocol and
the values it takes and gives.

The server only knows the protocol. Two product engines implement it: ``TransformersEngine``
(hf_engine.py; default, no compiler needed) and ``LlamaCppEngine`` (llama_engine.py; faster,
grammar-constrained JSON); engine_loader.py picks and loads one. The engines import this
module, never the loader.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Protocol, runtime_checkable

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
