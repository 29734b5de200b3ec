"""Which code a bench result came from: the checkout's commit, so a results row that moved between
code versions can be traced to the change."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def code_version(root: Path = ROOT) -> str | None:
    """The short commit of ``root``'s checkout, with ``-dirty`` when tracked files differ from
    it; None where ``root`` is not a git checkout or git is missing."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                 cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if changed.strip() else commit
