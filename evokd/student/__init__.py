"""The small model: HF classifiers, training, prediction, metrics, save/load. No LLM code.

``DEFAULT_STUDENT`` and ``resolve_backbone`` import nothing heavy; the other names load torch
and transformers on first use, so the CLI can check its input before paying for them.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from evokd.student.backbone import DEFAULT_STUDENT, resolve_backbone

# Idle OpenMP threads sleep instead of spinning: several times faster when other processes
# share the cores. Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TASK_FILE = "evokd_task.json"  # the task's kind and labels, saved beside a student's weights

if TYPE_CHECKING:
    from evokd.student.metrics import cls_scores, ner_scores
    from evokd.student.model import Student, score
    from evokd.student.training import TrainSettings

_LAZY = {
    "Student": "evokd.student.model", "score": "evokd.student.model",
    "TrainSettings": "evokd.student.training",
    "cls_scores": "evokd.student.metrics", "ner_scores": "evokd.student.metrics",
}

__all__ = [
    "DEFAULT_STUDENT", "Student", "TASK_FILE", "TrainSettings", "cls_scores", "ner_scores",
    "resolve_backbone", "score",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'student' has no attribute {name!r}")
