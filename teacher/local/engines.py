"""Inference engines behind the local teacher server.

The server only knows the ``Engine`` protocol. Two product engines exist:

* ``TransformersEngine`` — loads the GGUF file with transformers (dequantised to fp32; needs
  ``gguf`` and ``accelerate``, no compiler). JSON replies are steered by starting the answer
  with ``{``; the server adds the schema to the prompt and repairs the reply.
* ``LlamaCppEngine`` — llama-cpp-python when it is importable: faster, and JSON replies are
  grammar-constrained to the schema (``constrained = True``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from teacher.local.structured import json_prefix

log = logging.getLogger("evokd.teacher.local")

ENGINES = ("auto", "transformers", "llama_cpp")
DEFAULT_CONTEXT = 4096


class Generation(NamedTuple):
    """One completion: the text and its token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class ContextLengthError(ValueError):
    """The prompt plus ``max_tokens`` does not fit the engine's context window."""


class GenerationCancelled(RuntimeError):
    """The engine was closed while a generation was running."""


@runtime_checkable
class Engine(Protocol):
    """What the server needs from an inference backend (called from one worker thread)."""

    name: str
    constrained: bool  # True: json_schema is enforced while decoding

    def generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        seed: int | None,
        json_schema: dict[str, Any] | None,
        stop: list[str],
    ) -> Generation:
        """Complete the chat; ``json_schema`` ({} = any JSON object) asks for a JSON reply."""
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
    return importlib.util.find_spec("llama_cpp") is not None


def _trim_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


_COMPLETE = "evokd-complete"


def _load_gguf(model_path: Path) -> tuple[Any, Any]:
    """Tokenizer and fp32 model from a GGUF file (slow: parses and dequantises)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(model_path.parent), model_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    return tokenizer, model.eval()


def _load_hf_dir(folder: Path) -> tuple[Any, Any]:
    """Tokenizer and model from a weights cache written by ``_save_hf_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return tokenizer, model.eval()


def _save_hf_dir(tokenizer: Any, model: Any, folder: Path) -> None:
    """Save the dequantised weights as safetensors so the next start skips the GGUF parse.

    ``save_pretrained`` refuses GGUF-loaded models, so the config (minus its quantization
    entry) and the state dict are written directly; the folder appears atomically.
    """
    import copy

    from safetensors.torch import save_model

    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(folder.parent).free < 2 * n_bytes:
            log.warning("not enough disk space for the weights cache in %s", folder.parent)
            return
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(str(tmp))
        model.generation_config.save_pretrained(str(tmp))
        save_model(model, str(tmp / "model.safetensors"))
        tokenizer.save_pretrained(str(tmp))
        (tmp / _COMPLETE).write_text("ok\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as exc:
        log.warning("could not write the weights cache %s: %s", folder, exc)
        shutil.rmtree(tmp, ignore_errors=True)


class TransformersEngine:
    """A GGUF model run by transformers on CPU (fp32 after dequantising)."""

    name = "transformers"
    constrained = False

    def __init__(self, model_path: Path, threads: int | None = None,
                 context: int = DEFAULT_CONTEXT, weights_cache: Path | None = None) -> None:
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.threads = threads or default_threads()
        torch.set_num_threads(self.threads)
        started = time.perf_counter()
        self.loaded_from = "gguf"
        if weights_cache is not None and (weights_cache / _COMPLETE).is_file():
            try:
                self.tokenizer, self.model = _load_hf_dir(weights_cache)
                self.loaded_from = "weights-cache"
            except Exception as exc:  # a damaged cache only costs the slow path
                log.warning("ignoring unusable weights cache %s: %s", weights_cache, exc)
        if self.loaded_from == "gguf":
            self.tokenizer, self.model = _load_gguf(model_path)
            if weights_cache is not None:
                _save_hf_dir(self.tokenizer, self.model, weights_cache)
        self.load_seconds = round(time.perf_counter() - started, 1)
        limit = getattr(self.model.config, "max_position_embeddings", None) or context
        self.context = min(context, int(limit))
        self._eos_ids = self._end_token_ids()
        self._cancel = threading.Event()
        self._torch = torch

    def _end_token_ids(self) -> list[int]:
        ids = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        vocab = self.tokenizer.get_vocab()
        for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "</s>"):
            if token in vocab:
                ids.add(int(vocab[token]))
        return sorted(ids)

    def _prompt_ids(self, messages: list[dict[str, str]], prefix: str) -> list[int]:
        prompt = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return list(self.tokenizer(prompt + prefix, add_special_tokens=False)["input_ids"])

    def generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        seed: int | None,
        json_schema: dict[str, Any] | None,
        stop: list[str],
    ) -> Generation:
        """Generate greedily (temperature 0) or by sampling; see ``Engine.generate``."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch = self._torch
        torch.set_num_threads(self.threads)  # per worker thread
        prefix = json_prefix(json_schema) if json_schema is not None else ""  # start the JSON
        ids = self._prompt_ids(messages, prefix)
        if len(ids) + max_tokens > self.context:
            raise ContextLengthError(
                f"prompt ({len(ids)} tokens) + max_tokens ({max_tokens}) exceeds the local "
                f"model's context of {self.context} tokens"
            )
        tokenizer, cancel, start = self.tokenizer, self._cancel, len(ids)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                if cancel.is_set():
                    return True
                if not stop:
                    return False
                tail = tokenizer.decode(input_ids[0, start:], skip_special_tokens=True)
                return any(s in tail for s in stop if s)

        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0,
                                  "eos_token_id": self._eos_ids, "pad_token_id": self._eos_ids[0]}
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=1.0, top_k=0)
            if seed is not None:
                torch.manual_seed(seed)
        input_ids = torch.tensor([ids])
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                stopping_criteria=StoppingCriteriaList([_Stop()]), **kwargs,
            )
        if cancel.is_set():
            raise GenerationCancelled("the local teacher is shutting down")
        new = out[0, start:].tolist()
        text, _ = _trim_at_stop(tokenizer.decode(new, skip_special_tokens=True), stop)
        count = len(new) - (1 if new and new[-1] in self._eos_ids else 0)  # EOS is not text
        return Generation(prefix + text, len(ids), count)

    def describe(self) -> dict[str, Any]:
        """Engine facts for /health and run configs."""
        return {"engine": self.name, "threads": self.threads, "context": self.context,
                "load_seconds": self.load_seconds, "loaded_from": self.loaded_from,
                "constrained_json": self.constrained}

    def close(self) -> None:
        """Make a running generation stop at its next token."""
        self._cancel.set()


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

    def generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        seed: int | None,
        json_schema: dict[str, Any] | None,
        stop: list[str],
    ) -> Generation:
        """Chat completion through llama.cpp; see ``Engine.generate``."""
        response_format = None
        if json_schema is not None:
            response_format = {"type": "json_object"}
            if json_schema:
                response_format["schema"] = json_schema  # type: ignore[assignment]
        try:
            result = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature,
                top_p=1.0 if temperature > 0 else 0.95, seed=seed, stop=stop or None,
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
        """Free the model."""
        self.llm.close()


def load_engine(kind: str, model_path: Path, threads: int | None = None,
                context: int = DEFAULT_CONTEXT, weights_cache: Path | None = None) -> Engine:
    """Load ``model_path`` with engine ``kind`` (auto: llama_cpp when importable).

    ``weights_cache`` (transformers only) is a folder for the dequantised weights.
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
        return LlamaCppEngine(model_path, threads, context)
    return TransformersEngine(model_path, threads, context, weights_cache)
