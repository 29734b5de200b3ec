"""Devices: which torch device a ``--device`` value names on this machine, and its name.

``pick_device("auto")`` takes CUDA, then Apple MPS, then the CPU; a device this machine cannot
give is a UserError (exit 2) naming what is missing. Used by the student and by the embedded
teacher, which follows the student onto a CUDA GPU. torch loads on first use only.
"""

from __future__ import annotations

from typing import Any

from evokd.core.errors import UserError


def torch_module() -> Any:
    """torch, imported on first use (a run that fails on its flags never loads it)."""
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
    torch = torch_module()
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


def describe_device(device: str) -> str:
    """A human name for ``device`` (the GPU's model, or the CPU's thread count)."""
    torch = torch_module()
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    return f"CPU, {torch.get_num_threads()} threads"
