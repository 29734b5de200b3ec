"""Per-process run context handed to every node (never checkpointed): data, teacher, students,
output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evokd.core.rundir import RunDir
from evokd.graph.config import RunConfig
from evokd.graph.progress import ProgressDisplay
from evokd.graph.students import HFStudents, Students
from evokd.samples.pool import Pool
from evokd.student.hardware import Hardware
from evokd.tasks.data import TaskData
from evokd.tasks.spec import Example, TaskSpec
from evokd.teacher import TeacherClient


@dataclass
class RunContext:
    """What nodes need besides the state. The test split is here only for reporting."""

    config: RunConfig
    spec: TaskSpec
    data: TaskData
    seed_set: list[Example]
    run_dir: RunDir
    teacher: TeacherClient | None = None
    leak_keys: frozenset[str] = frozenset()
    pool: Pool | None = None  # --pool: the texts a round may pick
    progress: ProgressDisplay = field(default_factory=lambda: ProgressDisplay(enabled=False))
    hardware: Hardware = field(default_factory=Hardware)
    students: Students = field(default_factory=HFStudents)
    extras: dict[str, Any] = field(default_factory=dict)

    def require_teacher(self) -> TeacherClient:
        """The teacher client; rounds > 0 cannot run without one."""
        if self.teacher is None:
            raise RuntimeError("this run has no teacher configured")
        return self.teacher
