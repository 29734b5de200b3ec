"""Prompt templates: one Jinja2 file per role and task kind, rendered with StrictUndefined.

Each template defines a ``system`` and a ``user`` block, itself or through a base template it
``{% extends %}`` (variants of one role state only what differs). ``render`` gives the whole
text, ``render_messages`` the chat messages. Templates receive data text only already delimited (see
``prompts.formatting``); they hold all prompt wording, Python files hold none.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    nodes,
)

PROMPT_DIR = Path(__file__).resolve().parent
_EXTRA_DIRS: list[Path] = []  # prompt folders of roles that live outside this package


def add_prompt_dir(folder: Path) -> None:
    """Let templates also come from ``folder`` (for a role kept outside the project, e.g. in
    a plugin package or a test); this package's own templates win on a name clash."""
    folder = Path(folder).resolve()
    if folder not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(folder)
        _environment.cache_clear()
        _bases.cache_clear()


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader([PROMPT_DIR, *_EXTRA_DIRS]),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _template(name: str) -> Template:
    return _environment().get_template(name if name.endswith(".j2") else f"{name}.j2")


@cache
def _bases(name: str) -> tuple[Template, ...]:
    """The templates that template ``name`` extends, nearest first."""
    environment = _environment()
    source, _, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
    extends = environment.parse(source).find(nodes.Extends)
    if extends is None or not isinstance(extends.template, nodes.Const):
        return ()
    base = _template(extends.template.value)
    return (base, *_bases(base.name or ""))


def has_template(name: str) -> bool:
    """Whether template ``name`` (``"generator_ner_compact"`` or with ``.j2``) exists."""
    try:
        _template(name)
    except TemplateNotFound:
        return False
    return True


def render(name: str, **ctx: Any) -> str:
    """The whole template ``name`` (``"labeler_ner"`` or ``"labeler_ner.j2"``) rendered."""
    return _template(name).render(**ctx).strip() + "\n"


def render_block(name: str, block: str, **ctx: Any) -> str:
    """One block (``"system"`` or ``"user"``) of template ``name``, rendered and stripped."""
    template = _template(name)
    context = template.new_context(ctx)
    for base in _bases(template.name or ""):  # what ``{% extends %}`` does when rendering
        for base_block, render_base in base.blocks.items():
            context.blocks.setdefault(base_block, []).append(render_base)
    if block not in context.blocks:
        raise KeyError(f"template {name!r} has no block {block!r}")
    return "".join(context.blocks[block][0](context)).strip()


def render_messages(name: str, **ctx: Any) -> list[dict[str, str]]:
    """``[{"role": "system", ...}, {"role": "user", ...}]`` from the template's two blocks."""
    return [
        {"role": "system", "content": render_block(name, "system", **ctx)},
        {"role": "user", "content": render_block(name, "user", **ctx)},
    ]


def template_names() -> list[str]:
    """Names of the role templates (partials starting with ``_`` left out)."""
    return sorted(p.stem for p in PROMPT_DIR.glob("*.j2") if not p.name.startswith("_"))
