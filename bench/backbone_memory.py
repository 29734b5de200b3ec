"""Memory of one student training step per backbone family, at batch 16 × 128 sub-words.

Each backbone is built from its published base-size configuration with random weights (no
download: sizes, not scores, are measured), wrapped for token classification (9 tags), and
trained for three AdamW steps on random ids in a child process of its own. Prints parameters,
the weights + gradients + AdamW state (16 bytes a parameter in fp32), and the measured peak:
``torch.cuda.max_memory_allocated`` on a CUDA GPU, else the child's peak resident memory less
what it held before the model was built (CPU, fp32).

    python bench/backbone_memory.py [--device auto] [--batch 16] [--length 128]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# base-size configurations as published with each model (only the fields that set the size)
BACKBONES: dict[str, tuple[str, dict[str, Any]]] = {
    "all-MiniLM-L6-v2 (default)": ("bert", {"hidden_size": 384, "num_hidden_layers": 6,
                                            "num_attention_heads": 12,
                                            "intermediate_size": 1536}),
    "bert-base-cased": ("bert", {"vocab_size": 28996}),
    "distilbert-base-cased": ("distilbert", {"vocab_size": 28996}),
    "roberta-base": ("roberta", {"vocab_size": 50265, "max_position_embeddings": 514,
                                 "type_vocab_size": 1}),
    "deberta-v3-base": ("deberta-v2", {
        "vocab_size": 128100, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "relative_attention": True,
        "position_buckets": 256, "max_relative_positions": -1, "pos_att_type": ["p2c", "c2p"],
        "position_biased_input": False, "norm_rel_ebd": "layer_norm", "share_att_key": True,
        "type_vocab_size": 0}),
    "xlm-roberta-base": ("xlm-roberta", {"vocab_size": 250002, "max_position_embeddings": 514,
                                         "type_vocab_size": 1}),
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, device: str, batch: int, length: int) -> dict[str, Any]:
    """One backbone's sizes and peak training memory (run in a child process)."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    family, overrides = BACKBONES[name]
    before = _peak_rss_mb()
    config = AutoConfig.for_model(family, num_labels=9, **overrides)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(5, min(config.vocab_size, 1000), (batch, length), device=device)
    labels = torch.randint(0, 9, (batch, length), device=device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(3):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.startswith("cuda")
            else _peak_rss_mb() - before)
    return {"backbone": name, "params_m": params / 1e6, "state_mb": params * 16 / 2**20,
            "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from evokd.core.devices import pick_device

    device = pick_device(args.device)
    if args.child is not None:
        print(json.dumps(measure(args.child, device, args.batch, args.length)))
        return
    where = "GPU memory allocated" if device.startswith("cuda") else "CPU resident memory"
    print(f"device {device}; batch {args.batch} x {args.length} sub-words, fp32, AdamW; "
          f"peak = {where}")
    print("| backbone | parameters | weights + grads + AdamW | peak in training |")
    print("|---|---|---|---|")
    for name in BACKBONES:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--device", device, "--batch",
             str(args.batch), "--length", str(args.length)],
            capture_output=True, text=True, check=True, cwd=ROOT)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {row['params_m']:.1f} M | {row['state_mb'] / 1024:.2f} GiB | "
              f"{row['peak_mb'] / 1024:.2f} GiB |", flush=True)


if __name__ == "__main__":
    main()
