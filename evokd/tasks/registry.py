"""Finding a task: a built-in name (a task file shipped in tasks/builtin/) or a task file path."""

from __future__ import annotations

from pathlib import Path

from evokd.core.errors import UserError
from evokd.tasks.spec import TaskSpec
from evokd.tasks.taskfile import load_task_file

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def builtin_names() -> list[str]:
    """The built-in task names, sorted."""
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def is_task_file(task: str) -> bool:
    """Whether ``--task`` names a file rather than a built-in task."""
    return task.endswith((".yaml", ".yml")) or "/" in task or "\\" in task


def resolve_task(task: str, data_dir: Path) -> TaskSpec:
    """The spec for ``--task``: a built-in name (data under ``data_dir/<name>/``) or the path of
    a task file (data relative to the file). A clear UserError for anything else."""
    if task in builtin_names():
        return load_task_file(BUILTIN_DIR / f"{task}.yaml", base=data_dir / task, builtin=True)
    if is_task_file(task) or Path(task).is_file():
        return load_task_file(Path(task))
    raise UserError(f"unknown task {task!r}; choose one of: {', '.join(builtin_names())}, "
                    "or pass the path of a task file (task.yaml)")
