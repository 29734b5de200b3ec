"""Tiny, locally built student backbones and data folders, so tests train in seconds.

Import the fixtures into a test module: ``from tests.tiny import tiny_backbone, tiny_data``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer, BertConfig, BertModel

from student import resolve_backbone

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def build_tiny_backbone(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with the offline MiniLM tokenizer, saved to ``folder``."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone("all-MiniLM-L6-v2"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_conll(path: Path, sentences: list[list[tuple[str, str]]], docstart: bool) -> None:
    """Write sentences as 4-column CoNLL-2003 lines (or 2-column when ``docstart`` is False)."""
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for sentence in sentences:
        for token, tag in sentence:
            lines.append(f"{token} NN O {tag}" if docstart else f"{token} {tag}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def copy_subset(task: str, target: Path, sizes: dict[str, int]) -> Path:
    """The first N sentences / lines of each split of a shared data set, under ``target``."""
    source = SHARED_DATA / task
    (target / task).mkdir(parents=True, exist_ok=True)
    for split, size in sizes.items():
        for suffix in (".txt", ".jsonl"):
            src = source / f"{split}{suffix}"
            if not src.exists():
                continue
            if suffix == ".jsonl":
                rows = src.read_text(encoding="utf-8").split("\n")[:size]
                (target / task / src.name).write_text("\n".join(rows) + "\n", encoding="utf-8")
            else:
                blocks = src.read_text(encoding="utf-8").split("\n\n")[: size + 1]
                (target / task / src.name).write_text("\n\n".join(blocks) + "\n",
                                                      encoding="utf-8")
    return target


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


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


__all__ = ["build_tiny_backbone", "copy_subset", "read_jsonl", "tiny_backbone",
           "tiny_data", "write_conll"]
