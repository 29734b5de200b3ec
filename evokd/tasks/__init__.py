"""Tasks: task files and specs, readers, the built-in tasks and the k-shot sampler."""

from evokd.tasks.data import TaskData, load_task_data, resolve_data_dir
from evokd.tasks.registry import builtin_names, resolve_task
from evokd.tasks.sampler import sample_k_shot, seed_examples
from evokd.tasks.spec import DataSource, Example, TaskKind, TaskSpec

__all__ = [
    "DataSource", "Example", "TaskData", "TaskKind", "TaskSpec", "builtin_names",
    "load_task_data", "resolve_data_dir", "resolve_task", "sample_k_shot", "seed_examples",
]
