"""The llama.cpp engine (llama-cpp-python, used when importable): faster than transformers,
and JSON replies are grammar-constrained to the schema."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evokd.teacher.local.engines import (
    DEFAULT_CONTEXT,
    ContextLengthError,
    Generation,
    GenerationRequest,
    default_threads,
)


class LlamaCppEngine:
    """A GGUF model run by llama-cpp-python, with grammar-constrained JSON."""

    name = "llama_cpp"
    constrained = True

    def __init__(self, model_path: Path, threads: int | None = None,
                 context: int = DEFAULT_CONTEXT) -> None:
        from llama_cpp import Llama

        self.threads = threads or default_threads()
        started = time.perf_counter()
        self.llm = Llama(model_path=str(model_path), n_ctx=context, n_threads=self.threads,
                         n_threads_batch=self.threads, verbose=False)
        self.load_seconds = round(time.perf_counter() - started, 1)
        self.context = context

    def generate(self, request: GenerationRequest) -> Generation:
        """Chat completion through llama.cpp; see ``Engine.generate``."""
        messages, max_tokens, temperature, seed, json_schema, stop = request
        response_format = None
        if json_schema is not None:
            response_format = {"type": "json_object"}
            if json_schema:
                response_format["schema"] = json_schema  # type: ignore[assignment]
        try:
            result = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature,
                top_p=1.0, seed=seed, stop=stop or None,
                response_format=response_format,
            )
        except ValueError as exc:
            if "context" in str(exc).lower():
                raise ContextLengthError(str(exc)) from exc
            raise
        usage = result.get("usage") or {}
        text = result["choices"][0]["message"].get("content") or ""
        return Generation(text, int(usage.get("prompt_tokens", 0)),
                          int(usage.get("completion_tokens", 0)))

    def describe(self) -> dict[str, Any]:
        """Engine facts for /health and run configs."""
        return {"engine": self.name, "threads": self.threads, "context": self.context,
                "load_seconds": self.load_seconds, "constrained_json": self.constrained}

    def close(self) -> None:
        """Nothing to interrupt safely: freeing the model under a running call would crash.

        A running generation finishes (the launcher kills the process after its grace period).
        """
