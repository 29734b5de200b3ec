"""The small model: HF classifiers, training, prediction, metrics, save/load. No LLM code.

``DEFAULT_STUDENT`` and ``resolve_backbone`` import nothing heavy; the other names load torch
and transformers on first use, so the CLI can check its input before paying for them.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from student.backbone import DEFAULT_STUDENT, resolve_backbone

# Idle OpenMP threads sleep instead of spinning: several times faster when other processes
# share the cores. Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if TYPE_CHECKING:
    from student.metrics import cls_scores, ner_scores
    from student.model import Student, score
    from student.training import TrainSettings

_LAZY = {
    "Student": "student.model", "score": "student.model", "TrainSettings": "student.training",
    "cls_scores": "student.metrics", "ner_scores": "student.metrics",
}

__all__ = [
    "DEFAULT_STUDENT", "Student", "TrainSettings", "cls_scores", "ner_scores",
    "resolve_backbone", "score",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'student' has no attribute {name!r}")
