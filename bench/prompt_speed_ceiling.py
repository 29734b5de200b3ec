"""How fast the embedded teacher could read a prompt on this CPU: the prompt tokens/s that its
linear layers alone allow, in fp32 and in int8, against a full fp32 prefill.

A prompt's prefill is matrix products of ``--tokens`` rows with every decoder layer's linear
weights (lm_head runs on the last token only). This times those products for all layers with
the real weights, five ways: fp32 in ``nn.Linear``'s [out, in] layout (the old path), fp32 as
[in, out] (the current path), int8 products alone (``torch._int_mm`` on activations already
quantised: the floor of any int8 path, which VNNI speeds up), a whole int8 linear in torch ops
(weights per output channel, activations quantised per token, then rescaled), and fbgemm's fused
dynamic int8 linear (weights per output channel, one activation scale per matrix). Attention,
norms and activations come on top, so each line is an upper bound on a whole prefill. The rest of
the prefill is estimated as the old prefill less its linears; the last lines say what it leaves
of 4x the old path's measured prompt rate, with free linears and with the fastest ones. Timings
are medians of 5 (the prefill's: the faster of a median before and one after the linears); on
a shared machine they still vary by tens of percent between runs.

    python bench/prompt_speed_ceiling.py [--model qwen2.5-coder-0.5b] [--tokens 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the server sets it
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evokd.teacher.local.hf_engine import TransformersEngine  # noqa: E402
from evokd.teacher.local.models import (  # noqa: E402
    DEFAULT_MODEL,
    resolve_model,
    weights_cache_dir,
)


def seconds(run: Callable[[], object], repeats: int = 5) -> float:
    """The median wall time of ``run`` after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass
class Layer:
    """One linear layer's weights in each form timed, and a prompt's rows to multiply."""

    linear: Any
    x: Any  # fp32 rows
    xq: Any  # int8 rows
    weight_t: Any  # fp32 [in, out]
    wq: Any  # int8 [in, out]
    scale: Any  # per output channel
    fused: Any  # fbgemm dynamic int8 module, or None

    @classmethod
    def of(cls, linear: Any, rows: int) -> Layer:
        import torch

        weight = linear.weight
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        wq = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        return cls(linear, torch.randn(rows, linear.in_features),
                   torch.randint(-127, 128, (rows, linear.in_features), dtype=torch.int8),
                   weight.t().contiguous(), wq.t().contiguous(), scale, fbgemm_linear(linear))


def fbgemm_linear(linear: Any) -> Any:
    """``linear`` as an fbgemm dynamic int8 module (per-channel weights), or None where this
    torch has none."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            return quantize_dynamic(torch.nn.Sequential(linear),
                                    {torch.nn.Linear: per_channel_dynamic_qconfig})
        except (ImportError, RuntimeError, AssertionError):
            return None


def every_layer(op: Callable[[Layer], object], layers: list[Layer]) -> None:
    """``op`` on each layer in turn, each output dropped before the next (as in a forward)."""
    for layer in layers:
        op(layer)


def int8_linear(x: Any, wq: Any, scale: Any, bias: Any) -> Any:
    """``x @ W.T + b`` with ``x`` quantised per token to int8 and the product rescaled."""
    import torch

    rows = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8)
    xq = (x * (127.0 / rows)).round_().to(torch.int8)
    out = torch._int_mm(xq, wq).float().mul_(rows / 127.0)
    return out.mul_(scale) if bias is None else torch.addcmul(bias, out, scale, out=out)


def main() -> None:
    import torch
    from torch import nn
    from torch.nn import functional

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--tokens", type=int, default=500, help="prompt length (rows)")
    args = parser.parse_args()
    resolved = resolve_model(args.model)
    engine = TransformersEngine(resolved.path, weights_cache=weights_cache_dir(resolved.sha256),
                                device="cpu", precision="fp32", transpose=False)
    model, n = engine.model, args.tokens
    linears = [m for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and not name.endswith("lm_head")]
    ids = torch.randint(100, 5000, (1, n))
    with torch.inference_mode():
        prefill = seconds(lambda: model(input_ids=ids, logits_to_keep=1))
        layers = [Layer.of(m, n) for m in linears]
        try:
            torch._int_mm(layers[0].xq, layers[0].wq)
        except RuntimeError as exc:
            sys.exit(f"this torch has no int8 matrix product on the CPU: {exc}")
        paths: dict[str, Callable[[Layer], object]] = {
            "fp32 [out, in] (old path)": lambda layer: functional.linear(
                layer.x, layer.linear.weight, layer.linear.bias),
            "fp32 [in, out] (current)": lambda layer: (
                torch.addmm(layer.linear.bias, layer.x, layer.weight_t)
                if layer.linear.bias is not None else layer.x @ layer.weight_t),
            "int8 products alone": lambda layer: torch._int_mm(layer.xq, layer.wq),
            "int8 linear, per-token": lambda layer: int8_linear(layer.x, layer.wq, layer.scale,
                                                                layer.linear.bias),
        }
        if all(layer.fused is not None for layer in layers):
            paths["int8 fbgemm, fused"] = lambda layer: layer.fused(layer.x)
        timed = {label: seconds(lambda op=op: every_layer(op, layers))
                 for label, op in paths.items()}
        prefill = min(prefill, seconds(lambda: model(input_ids=ids, logits_to_keep=1)))
    old_rate = n / prefill
    flops = 2 * n * sum(m.in_features * m.out_features for m in linears)
    print(f"{resolved.name}: {len(linears)} linear layers, {flops / n / 1e9:.2f} GFLOP a "
          f"token, {engine.threads} threads, {n}-token prompt")
    print(f"full fp32 prefill (old path): {prefill:.2f} s, {old_rate:.0f} prompt tokens/s")
    for label, spent in timed.items():
        rate = n / spent
        print(f"{label:<27} {spent:.2f} s, {flops / spent / 1e9:.0f} GOP/s: linears alone allow "
              f"{rate:.0f} prompt tokens/s ({rate / old_rate:.2f}x the old path)")
    rest = prefill - timed["fp32 [out, in] (old path)"]
    fastest = min(timed.values())
    print(f"the rest of the prefill (attention, norms, activations): {rest:.2f} s, the old "
          f"prefill less its linears; free linears would allow {n / rest:.0f} prompt tokens/s "
          f"({prefill / rest:.2f}x)")
    print(f"4x the old path needs {4 * old_rate:.0f} prompt tokens/s; the fastest linears plus "
          f"the rest allow {n / (fastest + rest):.0f} ({prefill / (fastest + rest):.2f}x)")

if __name__ == "__main__":
    main()
