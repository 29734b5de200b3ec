"""Tasks: specs, readers, the registry and the k-shot sampler."""

from tasks.data import TaskData, load_task_data, resolve_data_dir
from tasks.errors import UserError
from tasks.registry import TASKS, get_task
from tasks.sampler import sample_k_shot
from tasks.spec import Example, TaskKind, TaskSpec

__all__ = [
    "TASKS", "Example", "TaskData", "TaskKind", "TaskSpec", "UserError", "get_task",
    "load_task_data", "resolve_data_dir", "sample_k_shot",
]
