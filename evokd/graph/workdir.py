"""The run directory's ``work/`` folder: each round's trained student is saved there
(``work/round-N``) until it is known whether it is the best. Only what ``--resume`` needs is
kept: the best student so far (the next round fine-tunes or is compared with it); when the
run ends, ``student/`` holds the best one and ``work/`` goes (unless ``--keep-work``)."""

from __future__ import annotations

import shutil
from pathlib import Path

WORK = "work"


def prune_work(run_dir: Path, keep: Path | str) -> list[Path]:
    """Remove the round students under ``run_dir/work`` other than ``keep``; returns what was
    removed. Called when a round starts training, after the checkpoint that made ``keep`` the
    best student, so a resumed run never looks for a removed folder."""
    work, keep = run_dir / WORK, Path(keep).resolve()
    removed = [path for path in sorted(work.glob("round-*"))
               if path.is_dir() and path.resolve() != keep]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def remove_work(run_dir: Path) -> None:
    """Remove ``run_dir/work`` (a finished run: the delivered student is in ``student/``)."""
    shutil.rmtree(run_dir / WORK, ignore_errors=True)
