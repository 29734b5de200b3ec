"""Session fixtures of a tiny student backbone and small data folders, so tests train in seconds.

A pytest plugin (tests/conftest.py lists it in ``pytest_plugins``); the builders behind the
fixtures live in fakes/backbones.py and fakes/data.py, where benchmarks can use them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.backbones import build_tiny_backbone
from fakes.data import copy_subset


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny BERT backbone (built once per test session)."""
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with small slices of conll03 (train 300, dev/test 40) and sst2."""
    root = tmp_path_factory.mktemp("data")
    copy_subset("conll03", root, {"train": 300, "dev": 40, "test": 40})
    copy_subset("sst2", root, {"train": 400, "dev": 40, "test": 40})
    copy_subset("conll04", root, {"train": 200, "dev": 30, "test": 30})
    return root
