"""The small model: HF classifiers, training, prediction, metrics, save/load. No LLM code."""

from student.backbone import DEFAULT_STUDENT, resolve_backbone
from student.metrics import cls_scores, ner_scores
from student.model import Student, score
from student.training import TrainSettings

__all__ = [
    "DEFAULT_STUDENT", "Student", "TrainSettings", "cls_scores", "ner_scores",
    "resolve_backbone", "score",
]
