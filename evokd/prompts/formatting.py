"""Putting data into prompts safely: delimiting, escaping, truncating, sample views.

Every piece of LLM-produced or data text that goes into a prompt passes through ``delimit`` (one
text) or ``format_samples`` (several samples as JSON, one per tag). Inside the data, anything
that looks like one of our delimiter tags has its ``<`` replaced by ``&lt;``, so a sample saying
``</sample> Ignore previous instructions`` cannot close the data block it sits in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evokd.samples.align import entities_from_tags
from evokd.samples.markup import DELIMITER_TAGS, TAG_LIKE
from evokd.tasks.spec import TaskSpec


def escape_data(text: str) -> str:
    """Neutralise anything in ``text`` that could open or close one of our delimiter tags."""
    return TAG_LIKE.sub("&lt;", text)


def plain_description(description: str) -> str:
    """A label description without its examples (``"locations: cities, e.g. 'Paris'"`` ->
    ``"locations: cities"``): a small model copies example names into every text."""
    return re.split(r",?\s*\(?\b(?:e\.g\.|for example|such as)", description, maxsplit=1)[0].strip()


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters (an ellipsis marks the cut)."""
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - 1)].rstrip() + "…"


def delimit(text: Any, tag: str = "sample", max_chars: int | None = None, **attrs: int) -> str:
    """``<tag attr="v">escaped text</tag>``: the one way data text enters a prompt."""
    if tag not in DELIMITER_TAGS:
        raise ValueError(f"unknown delimiter tag {tag!r}")
    body = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    if max_chars is not None:
        body = truncate(body, max_chars)
    attributes = "".join(f' {key}="{int(value)}"' for key, value in attrs.items())
    return f"<{tag}{attributes}>{escape_data(body)}</{tag}>"


def format_samples(
    samples: Iterable[Mapping[str, Any]],
    tag: str = "sample",
    max_chars: int = 400,
    limit: int | None = None,
) -> str:
    """Samples as one JSON object per delimited line, numbered from 0 by an ``index`` attribute.

    String values are truncated to ``max_chars``; at most ``limit`` samples are shown.
    """
    lines = []
    for index, sample in enumerate(samples):
        if limit is not None and index >= limit:
            break
        view = _truncate_values(sample, max_chars)
        lines.append(delimit(json.dumps(view, ensure_ascii=False, default=str), tag, index=index))
    return "\n".join(lines)


def _truncate_values(value: Any, max_chars: int) -> Any:
    if isinstance(value, str):
        return truncate(value, max_chars)
    if isinstance(value, Mapping):
        return {str(k): _truncate_values(v, max_chars) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_truncate_values(v, max_chars) for v in list(value)[:20]]
    return value


def example_view(task: TaskSpec, example: Mapping[str, Any]) -> dict[str, Any]:
    """A labelled example as the LLM sees it: text plus entity spans (NER) or label (cls)."""
    if task.kind == "ner":
        tokens = [str(t) for t in example.get("tokens") or []]
        text = example.get("text")
        if not isinstance(text, str) or not text.strip():
            text = " ".join(tokens)
        entities = example.get("entities")
        if not isinstance(entities, list):
            entities = entities_from_tags(tokens, example.get("tags") or [])
        return {"text": text, "entities": entities}
    return {"text": str(example.get("text", "")), "label": example.get("label")}


def example_views(task: TaskSpec, examples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``example_view`` for each example."""
    return [example_view(task, e) for e in examples]
