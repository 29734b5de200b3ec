"""How the student runs: device (``core.devices``), precision, text length.

``pick_precision("auto", device)`` is bf16 on a CUDA GPU that supports it, else fp16 there
(with a gradient scaler), and fp32 on the CPU and MPS; bf16 on the CPU is used only when asked.
It raises a UserError (exit 2) for a precision this machine cannot give, naming what is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evokd.core.devices import describe_device, pick_device, torch_module
from evokd.core.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_MAX_LENGTH = {"ner": 128, "cls": 256}
CPU_PREDICT_BATCH, ACCELERATOR_PREDICT_BATCH = 64, 256


def pick_precision(name: str, device: str) -> str:
    """The precision for ``--precision`` on ``device`` (see the module docstring)."""
    name = name.strip().lower()
    if name not in PRECISIONS:
        raise UserError(f"--precision {name!r}: choose one of {', '.join(PRECISIONS)}")
    cuda = device.startswith("cuda")
    if name == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch_module().cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and not (cuda or device == "mps"):
        raise UserError("--precision fp16 needs a GPU (CUDA or MPS); on the CPU use bf16 or fp32")
    if name == "bf16" and cuda and not torch_module().cuda.is_bf16_supported():
        raise UserError(f"--precision bf16: {device} does not support bf16; use fp16 or auto")
    return name


@dataclass(frozen=True)
class Hardware:
    """A resolved device, precision and maximum text length (in sub-words) for the student."""

    device: str = "cpu"
    precision: str = "fp32"
    max_length: int = 128

    @property
    def accelerated(self) -> bool:
        """Whether the student runs on a GPU."""
        return self.device != "cpu"

    @property
    def predict_batch(self) -> int:
        """Examples per prediction batch (larger on a GPU)."""
        return ACCELERATOR_PREDICT_BATCH if self.accelerated else CPU_PREDICT_BATCH

    @property
    def dtype(self) -> Any:
        """The autocast dtype, or None for fp32."""
        torch = torch_module()
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed precision for forward passes (a no-op in fp32)."""
        if self.dtype is None:
            yield
            return
        with torch_module().autocast(device_type=self.device.split(":")[0], dtype=self.dtype):
            yield

    def scaler(self) -> Any:
        """A gradient scaler for fp16 on CUDA, else None."""
        if self.precision != "fp16" or not self.device.startswith("cuda"):
            return None
        return torch_module().amp.GradScaler("cuda")

    def describe(self) -> dict[str, Any]:
        """What config.json and the progress line record."""
        return {"device": self.device, "device_name": describe_device(self.device),
                "precision": self.precision, "max_length": self.max_length}


def resolve_hardware(device: str, precision: str, max_length: int) -> Hardware:
    """Device and precision flags resolved for this machine (UserError if it cannot)."""
    chosen = pick_device(device)
    return Hardware(chosen, pick_precision(precision, chosen), max_length)
