"""The training loop: AdamW, linear schedule, a fixed number of steps, dynamic padding."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from evokd.student.encoding import collate
from evokd.student.hardware import Hardware

StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainSettings:
    """How long and how hard to train.

    Steps = max(``min_steps``, ``epochs`` × batches per epoch): tiny k-shot sets need a fixed
    number of steps to learn anything, large sets get whole epochs.
    """

    min_steps: int = 300
    epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 1

    def total_steps(self, n_examples: int) -> int:
        """Number of optimiser steps for a training set of ``n_examples``."""
        per_epoch = math.ceil(n_examples / self.batch_size)
        return max(self.min_steps, math.ceil(self.epochs * per_epoch))


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[list[int]]:
    """Endless seeded shuffles of ``range(n)``, cut into batches (a small set fills one batch)."""
    size = min(batch_size, n)
    buffer: list[int] = []
    while True:
        while len(buffer) < size:
            buffer.extend(torch.randperm(n, generator=generator).tolist())
        yield buffer[:size]
        buffer = buffer[size:]


def _adamw(groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    """AdamW, fused where this torch build supports it (the step is several times faster)."""
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr)


def train_loop(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: list[dict[str, Any]],
    settings: TrainSettings,
    on_step: StepCallback | None = None,
    hardware: Hardware | None = None,
) -> dict[str, float]:
    """Fine-tune ``model`` (already on ``hardware.device``) on encoded ``items``; returns
    steps, seconds, examples/s and the last loss."""
    hardware = hardware or Hardware()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    total = settings.total_steps(len(items))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": settings.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = _adamw(groups, settings.learning_rate)
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(settings.warmup_ratio * total), total
    )
    scaler = hardware.scaler()
    model.train()
    started, seen, loss_value = time.perf_counter(), 0, float("nan")
    batches = _batches(len(items), settings.batch_size, generator)
    for step in range(1, total + 1):
        chunk = [items[i] for i in next(batches)]
        batch = collate(tokenizer, chunk, hardware.device)
        with hardware.autocast():
            loss = model(**batch).loss
        if scaler is not None:  # fp16: scale the loss so small gradients do not vanish
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(chunk)
        loss_value = float(loss.detach())
        if on_step is not None:
            on_step(step, total, loss_value)
    model.eval()
    seconds = time.perf_counter() - started
    return {"steps": total, "seconds": seconds, "examples_per_s": seen / max(seconds, 1e-9),
            "loss": loss_value}
