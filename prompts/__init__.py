"""Prompt templates: one Jinja2 file per role and task kind, rendered with StrictUndefined.

Each template defines a ``system`` and a ``user`` block. ``render`` gives the whole text,
``render_messages`` the chat messages. Templates receive data text only already delimited (see
``prompts.formatting``); they hold all prompt wording, Python files hold none.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

PROMPT_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(PROMPT_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _template(name: str) -> Template:
    return _environment().get_template(name if name.endswith(".j2") else f"{name}.j2")


def render(name: str, **ctx: Any) -> str:
    """The whole template ``name`` (``"labeler_ner"`` or ``"labeler_ner.j2"``) rendered."""
    return _template(name).render(**ctx).strip() + "\n"


def render_block(name: str, block: str, **ctx: Any) -> str:
    """One block (``"system"`` or ``"user"``) of template ``name``, rendered and stripped."""
    template = _template(name)
    if block not in template.blocks:
        raise KeyError(f"template {name!r} has no block {block!r}")
    context = template.new_context(ctx)
    return "".join(template.blocks[block](context)).strip()


def render_messages(name: str, **ctx: Any) -> list[dict[str, str]]:
    """``[{"role": "system", ...}, {"role": "user", ...}]`` from the template's two blocks."""
    return [
        {"role": "system", "content": render_block(name, "system", **ctx)},
        {"role": "user", "content": render_block(name, "user", **ctx)},
    ]


def template_names() -> list[str]:
    """Names of the role templates (partials starting with ``_`` left out)."""
    return sorted(p.stem for p in PROMPT_DIR.glob("*.j2") if not p.name.startswith("_"))
