"""Prompt and completion tokens/s of the embedded teacher's transformers engine: the old path
(fp32 weights in nn.Linear's layout) and the current one (``--precision auto``: bf16 where the
CPU has it natively, else fp32 with the linears' weights as [in, out]), in one run on the same
machine.

Prompt speed: three prompts of ~500 tokens that share no prefix, generating one token each
(the prefix cache cannot help). Completion speed: a reply of up to ``--max-tokens`` tokens,
less its prompt's time at the measured prompt speed. Greedy decoding, one request at a time;
then, for the current path, ``--batch`` sizes: that many requests in flight decoded together
(``generate_many``), completion tokens of all of them per second of decoding. Last, the prefill
of 4 requests that share a long system prompt (an agent's calls): with every prompt prefilled
in full, with the shared part prefilled once, and with it kept from the batch before. Where
llama-cpp-python is installed (the server's engine then), one request on it too.

    python bench/local_teacher_speed.py [--model qwen2.5-coder-0.5b] [--max-tokens 128] \
        [--batch 2 4 8 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the server sets it
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evokd.teacher.local.engine_loader import llama_cpp_available  # noqa: E402
from evokd.teacher.local.engines import GenerationRequest  # noqa: E402
from evokd.teacher.local.hf_engine import TransformersEngine  # noqa: E402
from evokd.teacher.local.models import (  # noqa: E402
    DEFAULT_MODEL,
    resolve_model,
    weights_cache_dir,
)

INSTRUCTIONS = ("You are a careful named-entity annotator. Mark every person, organisation, "
                "location and other named entity in the sentence, and nothing else. ") * 8
LONG_ASK = ("Write twenty short, different English news sentences, one per line, each naming a "
            "person, a company and a city.")


def _messages(i: int, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": f"Request {i}. {INSTRUCTIONS}"},
            {"role": "user", "content": user}]


def forget_prompts(engine: Any) -> None:
    """Drop the KV cache an engine keeps of its last prompt, so the next one is read in full."""
    if isinstance(engine, TransformersEngine):
        engine._prefix_cache.clear()
    else:
        engine.llm.reset()  # llama.cpp reuses the prefix of its last prompt otherwise


def measure(engine: Any, max_tokens: int) -> tuple[float, float, int]:
    """Prompt tokens/s, completion tokens/s and the completion's length."""
    tokens, started = 0, time.perf_counter()
    for i in range(3):
        forget_prompts(engine)
        done = engine.generate(GenerationRequest(
            _messages(i, f"Sentence {i}: Anna Berg of Nordbank met officials in Oslo."),
            1, 0.0, None, None, []))
        tokens += done.prompt_tokens
    prompt_rate = tokens / (time.perf_counter() - started)
    forget_prompts(engine)
    started = time.perf_counter()
    done = engine.generate(GenerationRequest(_messages(9, LONG_ASK), max_tokens, 0.0, None,
                                             None, []))
    spent = time.perf_counter() - started - done.prompt_tokens / prompt_rate
    return prompt_rate, done.completion_tokens / spent, done.completion_tokens


def measure_batch(engine: TransformersEngine, size: int, max_tokens: int,
                  prompt_rate: float) -> tuple[float, int]:
    """Completion tokens/s of ``size`` requests decoded together (their prompts' time at
    ``prompt_rate`` taken off) and the tokens they wrote."""
    asks = [GenerationRequest(_messages(20 + i, f"{LONG_ASK} Start with number {i + 1}."),
                              max_tokens, 0.0, None, None, []) for i in range(size)]
    saved, engine.max_batch = engine.max_batch, size  # all of them in one batch
    started = time.perf_counter()
    try:
        done = engine.generate_many(asks)
    finally:
        engine.max_batch = saved
    tokens = sum(g.completion_tokens for g in done)
    spent = time.perf_counter() - started - sum(g.prompt_tokens for g in done) / prompt_rate
    return tokens / spent, tokens


def measure_shared_prefill(engine: TransformersEngine) -> tuple[int, list[float]]:
    """Prompt tokens of each of 4 requests with one system prompt, and the seconds their
    prefill takes: in full, the shared part once (cold), the shared part kept (warm)."""
    import torch

    from evokd.teacher.local.batch_decode import Row, decode_together

    system = INSTRUCTIONS * 5
    def asks(k: int) -> list[GenerationRequest]:
        return [GenerationRequest([{"role": "system", "content": system},
                                   {"role": "user", "content": f"Sentence {k}.{i}: {LONG_ASK}"}],
                                  1, 0.0, None, None, []) for i in range(4)]

    seconds = []
    for mode in ("full", "cold", "warm"):
        if mode != "warm":
            engine._prefix_cache.clear()
        started = time.perf_counter()
        if mode == "full":
            rows = [Row(engine._prompt_ids(a.messages, ""), 1, 0.0, None, []) for a in asks(0)]
            with torch.inference_mode():
                decode_together(engine.model, engine.tokenizer, rows, end_ids=engine._eos_ids,
                                pad_id=engine._eos_ids[0], device=engine.device,
                                cache_kwarg=engine._cache_kwarg, cancel=engine._cancel)
        else:
            engine.generate_many(asks(len(seconds)))
        seconds.append(time.perf_counter() - started)
    return len(engine._prompt_ids(asks(0)[0].messages, "")), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, nargs="*", default=[2, 4, 8, 16],
                        help="requests decoded together, measured on the current path")
    args = parser.parse_args()
    resolved = resolve_model(args.model)
    rates = {}
    for label, precision in (("old path (fp32)", "fp32"), ("current (auto)", "auto")):
        engine = TransformersEngine(resolved.path, weights_cache=weights_cache_dir(resolved.sha256),
                                    device="cpu", precision=precision,
                                    transpose=precision != "fp32")
        prompt, completion, n = measure(engine, args.max_tokens)
        rates[precision] = (prompt, completion)
        print(f"{label:<16} dtype {engine.dtype:<9} layout {engine.layout} threads "
              f"{engine.threads}: prompt "
              f"{prompt:.1f} tokens/s, completion {completion:.1f} tokens/s ({n} tokens)")
        if precision == "auto":
            for size in args.batch:
                speed, n = measure_batch(engine, size, args.max_tokens, prompt)
                rates[f"batch {size}"] = (prompt, speed)
                print(f"{'':<16} {size} requests decoded together: completion {speed:.1f} "
                      f"tokens/s ({n} tokens)")
            length, (full, cold, warm) = measure_shared_prefill(engine)
            print(f"{'':<16} prefill of 4 requests of {length} tokens sharing a system prompt: "
                  f"{full:.2f} s in full, {cold:.2f} s shared ({full / cold:.1f}x), {warm:.2f} s "
                  f"kept from the batch before ({full / warm:.1f}x)")
        del engine
    (p_old, c_old), (p_new, c_new) = rates["fp32"], rates["auto"]
    print(f"ratio current / old: prompt {p_new / p_old:.2f}x, completion {c_new / c_old:.2f}x"
          + "".join(f", {key} {rates[key][1] / c_old:.2f}x" for key in rates
                    if key.startswith("batch")))
    if llama_cpp_available():
        from evokd.teacher.local.llama_engine import LlamaCppEngine

        engine = LlamaCppEngine(resolved.path)
        prompt, completion, n = measure(engine, args.max_tokens)
        print(f"{'llama.cpp':<16} the GGUF's own weights, threads {engine.threads}: prompt "
              f"{prompt:.1f} tokens/s, completion {completion:.1f} tokens/s ({n} tokens); "
              f"against the old path: prompt {prompt / p_old:.2f}x, completion "
              f"{completion / c_old:.2f}x")


if __name__ == "__main__":
    main()
