"""The transformers engine: a GGUF model dequantised and run by torch (CPU bf16 or fp32, or a
GPU).

Needs ``gguf`` and ``accelerate`` (the ``local`` extra), no compiler. JSON replies are steered
by putting the start of the object in the model's mouth (``json_prefix``); the server adds the
schema to the prompt and repairs the reply. Five speed-ups: the dequantised weights are kept
on disk (a start takes seconds instead of a minute or two); the KV cache of the previous
prompt is reused for the prefix the next prompt shares (agent prompts repeat their system
part); requests in flight are decoded together, with continuous batching
(``generate_stream``, batch_decode.py); in fp32 on the CPU the linear layers keep their
weights as [in, out], the layout the BLAS kernel runs fastest for several rows
(cpu_layout.py); a JSON reply ends when its first object is complete (small models ramble on
after it).
On a CUDA GPU (``device`` auto or cuda[:N]) the model runs there in bf16 (fp16 where the GPU has
no bf16); the student of the same run shares the GPU. On a CPU with native bf16 (AVX512-BF16,
AMX) the weights run in bf16 (``precision`` auto), else in fp32.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evokd.teacher.local.batch_decode import PrefillStats, Row, decode_together, reply_ends
from evokd.teacher.local.cpu_layout import transpose_linears
from evokd.teacher.local.engines import (
    DEFAULT_CONTEXT,
    PRECISIONS,
    ContextLengthError,
    Generation,
    GenerationCancelled,
    GenerationRequest,
    default_threads,
)
from evokd.teacher.local.prefix_cache import PrefixCache
from evokd.teacher.local.structured import json_prefix

log = logging.getLogger("evokd.teacher.local")


def _trim_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


_COMPLETE = "evokd-complete"


def _json_start(request: GenerationRequest, prefix: str) -> str | None:
    """The JSON start of a JSON request (decoding stops at its object's end), else None."""
    return prefix if request.json_schema is not None else None


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
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(folder.parent).free < 2 * n_bytes:
            log.warning("not enough disk space for the weights cache in %s", folder.parent)
            return
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


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo
    (False where there is none): without it bf16 is emulated and no faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _placement(device: str, precision: str = "auto") -> tuple[str, Any]:
    """The torch device and dtype for ``device`` (auto: a CUDA GPU when there is one) and
    ``precision`` (auto: bf16 on a GPU that has it, else fp16 there; on the CPU bf16 where it
    is native — prompts ~3x, completions ~1.8x faster than fp32 — else fp32)."""
    import torch

    from evokd.core.devices import pick_device

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    fp32, bf16 = torch.float32, torch.bfloat16
    if precision == "fp32":
        cpu_dtype = fp32
    else:
        cpu_dtype = bf16 if precision == "bf16" or cpu_has_fast_bf16() else fp32
    if device == "auto" and not torch.cuda.is_available():
        return "cpu", cpu_dtype  # MPS is left to the student: the teacher stays on the CPU
    chosen = pick_device(device)
    if not chosen.startswith("cuda"):
        return "cpu", cpu_dtype
    if precision == "fp32":
        return chosen, fp32
    return chosen, bf16 if torch.cuda.is_bf16_supported() else torch.float16


class TransformersEngine:
    """A GGUF model run by transformers: bf16 or fp32 on the CPU, bf16/fp16 on a CUDA GPU."""

    name = "transformers"
    constrained = False
    max_batch = 16  # requests in flight decoded together (generate_many); on a 2-core fp32
    # CPU 8 rows decode 5.6x and 16 rows 7.0x the tokens/s of one (bench/local_teacher_speed.py)

    def __init__(self, model_path: Path, threads: int | None = None,
                 context: int = DEFAULT_CONTEXT, weights_cache: Path | None = None,
                 device: str = "auto", precision: str = "auto",
                 transpose: bool = True) -> None:
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
        self.device, dtype = _placement(device, precision)
        if self.device != "cpu" or dtype != torch.float32:
            self.model = self.model.to(device=self.device, dtype=dtype)
        self.dtype = str(dtype).removeprefix("torch.")
        self.layout = "out,in"
        if transpose and self.device == "cpu" and dtype == torch.float32:
            transpose_linears(self.model)  # batched decoding ~1.5x faster (cpu_layout.py)
            self.layout = "in,out"
        self.load_seconds = round(time.perf_counter() - started, 1)
        limit = getattr(self.model.config, "max_position_embeddings", None) or context
        self.context = min(context, int(limit))
        self._eos_ids = self._end_token_ids()
        self._cancel = threading.Event()
        self._prefix_cache = PrefixCache()
        self.batches = self.batched_requests = 0
        self.prefill = PrefillStats()  # of the batched path (the server's)
        self._torch = torch
        from transformers.generation import utils as generation_utils

        names = getattr(generation_utils, "ALL_CACHE_NAMES", [])
        self._cache_kwarg = "cache" if "cache" in names else "past_key_values"  # renamed in 5.x

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

    def _checked_ids(self, request: GenerationRequest) -> tuple[list[int], str]:
        """The prompt's token ids (JSON start included) and that start; too long: an error."""
        prefix = json_prefix(request.json_schema) if request.json_schema is not None else ""
        ids = self._prompt_ids(request.messages, prefix)
        if len(ids) + request.max_tokens > self.context:
            raise ContextLengthError(
                f"prompt ({len(ids)} tokens) + max_tokens ({request.max_tokens}) exceeds the "
                f"local model's context of {self.context} tokens"
            )
        return ids, prefix

    def _finish(self, prefix: str, prompt_tokens: int, new: list[int],
                stop: list[str]) -> Generation:
        text, _ = _trim_at_stop(self.tokenizer.decode(new, skip_special_tokens=True), stop)
        count = len(new) - (1 if new and new[-1] in self._eos_ids else 0)  # EOS is not text
        return Generation(prefix + text, prompt_tokens, count)

    def generate_many(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        """Several requests decoded together (``batch_decode``); one result or error each.
        A lone request takes ``generate`` (and its prefix cache)."""
        if len(requests) == 1:
            try:
                return [self.generate(requests[0])]
            except (ContextLengthError, GenerationCancelled) as exc:
                return [exc]
        results: dict[int, Generation | Exception] = {}
        try:
            self.generate_stream(list(enumerate(requests)), lambda _: [], results.__setitem__)
        except GenerationCancelled as exc:
            return [exc] * len(requests)
        return [results[index] for index in range(len(requests))]

    def generate_stream(self, requests: list[tuple[Any, GenerationRequest]],
                        more: Callable[[int], list[tuple[Any, GenerationRequest]]],
                        deliver: Callable[[Any, Generation | Exception], None]) -> None:
        """Continuous batching: decode ``(key, request)`` pairs together, and as replies end,
        the pairs ``more(free places)`` hands over (up to ``max_batch`` rows at once);
        ``deliver(key, result)`` gets each reply (or error) as soon as it ends. Raises
        ``GenerationCancelled`` when the engine is closed."""
        torch = self._torch
        torch.set_num_threads(self.threads)

        def rows_of(pairs: list[tuple[Any, GenerationRequest]]) -> list[Row]:
            rows = []
            for key, request in pairs:
                try:
                    ids, prefix = self._checked_ids(request)
                except ContextLengthError as exc:
                    deliver(key, exc)
                    continue
                rows.append(Row(ids, request.max_tokens, request.temperature, request.seed,
                                request.stop, _json_start(request, prefix), tag=(key, prefix)))
            self.batched_requests += len(rows)
            return rows

        def take(room: int) -> list[Row]:
            rows: list[Row] = []
            while len(rows) < room and (pairs := more(room - len(rows))):
                rows += rows_of(pairs)
            return rows

        def done(row: Row) -> None:
            key, prefix = row.tag
            deliver(key, self._finish(prefix, len(row.ids), row.new, row.stop))

        first = rows_of(requests) or take(self.max_batch)
        if not first:
            return
        self.batches += 1
        with torch.inference_mode():
            decode_together(self.model, self.tokenizer, first, end_ids=self._eos_ids,
                            pad_id=self._eos_ids[0], device=self.device,
                            cache_kwarg=self._cache_kwarg, cancel=self._cancel,
                            prefix_cache=self._prefix_cache, more=take, done=done,
                            max_rows=self.max_batch, stats=self.prefill)

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate greedily (temperature 0) or by sampling; see ``Engine.generate``."""
        _, max_tokens, temperature, seed, _, stop = request
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch = self._torch
        torch.set_num_threads(self.threads)  # per worker thread
        ids, prefix = self._checked_ids(request)  # prefix: the start of the JSON
        tokenizer, cancel, start = self.tokenizer, self._cancel, len(ids)
        json_start = _json_start(request, prefix)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancel.is_set() or reply_ends(tokenizer, input_ids[0, start:].tolist(),
                                                     stop, json_start)

        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0,
                                  "eos_token_id": self._eos_ids, "pad_token_id": self._eos_ids[0]}
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=1.0, top_k=0)
            if seed is not None:
                torch.manual_seed(seed)
        input_ids = torch.tensor([ids], device=self.device)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                stopping_criteria=StoppingCriteriaList([_Stop()]),
                return_dict_in_generate=True, **{self._cache_kwarg: self._prefix_cache.lookup(ids)},
                **kwargs,
            )
        if cancel.is_set():
            self._prefix_cache.clear()
            raise GenerationCancelled("the local teacher is shutting down")
        sequence = out.sequences[0].tolist()
        self._prefix_cache.store(sequence, getattr(out, self._cache_kwarg, None))
        return self._finish(prefix, len(ids), sequence[start:], stop)

    def describe(self) -> dict[str, Any]:
        """Engine facts for /health and run configs."""
        return {"engine": self.name, "threads": self.threads, "context": self.context,
                "device": self.device, "dtype": self.dtype, "weight_layout": self.layout,
                "load_seconds": self.load_seconds, "loaded_from": self.loaded_from,
                "constrained_json": self.constrained, "prefix_cache_hits": self._prefix_cache.hits,
                "prefix_tokens_reused": self._prefix_cache.reused_tokens,
                "max_batch": self.max_batch, "batches": self.batches,
                "batched_requests": self.batched_requests, **self.prefill.describe()}

    def close(self) -> None:
        """Make a running generation stop at its next token."""
        self._cancel.set()
