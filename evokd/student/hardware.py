"""Where and how the student runs: device (CPU, CUDA, Apple MPS), precision, text length.

``pick_device("auto")`` takes CUDA, then MPS, then the CPU. ``pick_precision("auto", device)``
is bf16 on a CUDA GPU that supports it, else fp16 there (with a gradient scaler), and fp32 on
the CPU and MPS; bf16 on the CPU is used only when asked. Both raise a UserError (exit 2) for a
device or precision this machine cannot give, naming what is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evokd.tasks.errors import UserError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_MAX_LENGTH = {"ner": 128, "cls": 256}
CPU_PREDICT_BATCH, ACCELERATOR_PREDICT_BATCH = 64, 256


def _torch() -> Any:
    import torch

    return torch


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(name: str) -> str:
    """The torch device for ``--device`` (``auto``: CUDA, then MPS, then CPU)."""
    name = name.strip().lower()
    if name == "cpu":
        return "cpu"
    torch = _torch()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if _mps_available(torch) else "cpu"
    if name == "mps":
        if not _mps_available(torch):
            raise UserError("--device mps: Apple's Metal (MPS) backend is not available in this "
                            "torch build or on this machine; use --device auto or cpu")
        return "mps"
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise UserError(f"--device {name}: expected cuda or cuda:N (N a GPU number)")
        if not torch.cuda.is_available():
            build = "built without CUDA" if torch.version.cuda is None else (
                f"built for CUDA {torch.version.cuda}, but no GPU or driver is visible")
            raise UserError(f"--device {name}: no CUDA GPU available (torch {torch.__version__} "
                            f"is {build}); use --device auto or cpu")
        count = torch.cuda.device_count()
        if int(index_text) >= count:
            raise UserError(f"--device {name}: this machine has {count} CUDA GPU(s) "
                            f"(cuda:0..cuda:{count - 1})")
        return f"cuda:{int(index_text)}"
    raise UserError(f"--device {name!r}: choose auto, cpu, cuda, cuda:N or mps")


def pick_precision(name: str, device: str) -> str:
    """The precision for ``--precision`` on ``device`` (see the module docstring)."""
    name = name.strip().lower()
    if name not in PRECISIONS:
        raise UserError(f"--precision {name!r}: choose one of {', '.join(PRECISIONS)}")
    cuda = device.startswith("cuda")
    if name == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if _torch().cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and not (cuda or device == "mps"):
        raise UserError("--precision fp16 needs a GPU (CUDA or MPS); on the CPU use bf16 or fp32")
    if name == "bf16" and cuda and not _torch().cuda.is_bf16_supported():
        raise UserError(f"--precision bf16: {device} does not support bf16; use fp16 or auto")
    return name


def describe_device(device: str) -> str:
    """A human name for ``device`` (the GPU's model, or the CPU's thread count)."""
    torch = _torch()
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    return f"CPU, {torch.get_num_threads()} threads"


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
        torch = _torch()
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed precision for forward passes (a no-op in fp32)."""
        if self.dtype is None:
            yield
            return
        with _torch().autocast(device_type=self.device.split(":")[0], dtype=self.dtype):
            yield

    def scaler(self) -> Any:
        """A gradient scaler for fp16 on CUDA, else None."""
        if self.precision != "fp16" or not self.device.startswith("cuda"):
            return None
        return _torch().amp.GradScaler("cuda")

    def describe(self) -> dict[str, Any]:
        """What config.json and the progress line record."""
        return {"device": self.device, "device_name": describe_device(self.device),
                "precision": self.precision, "max_length": self.max_length}


def resolve_hardware(device: str, precision: str, max_length: int) -> Hardware:
    """Device and precision flags resolved for this machine (UserError if it cannot)."""
    chosen = pick_device(device)
    return Hardware(chosen, pick_precision(precision, chosen), max_length)
