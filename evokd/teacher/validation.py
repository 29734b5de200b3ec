"""Turning one raw reply into a validated value, or into the reason it cannot be used.

``validate`` parses the reply text as JSON (leniently, see ``teacher.jsonfix``), fits it to the
pydantic schema and runs the caller's ``check``; every failure becomes an ``InvalidReply``
whose reason is fed back to the model by the retry loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_origin

from pydantic import BaseModel, ValidationError

from evokd.teacher.jsonfix import extract_json

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Reply:
    """A raw reply with its accounting, from the server or the cache."""

    raw_text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    cached: bool
    latency_s: float


class InvalidReply(Exception):
    """One attempt gave no usable value; retried by the validation loop."""

    def __init__(self, reason: str, raw_text: str = "", *, from_model: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw_text = raw_text
        self.from_model = from_model  # False: malformed HTTP body, nothing to show the model


def validate(reply: Reply, schema: type[T], check: Callable[[T], None] | None) -> T:
    """Parse ``reply`` into ``schema`` and run ``check``; raise InvalidReply with the reason."""
    raw = reply.raw_text
    cut = (
        "the reply was cut off at the token limit (finish_reason=length), keep it shorter; "
        if reply.finish_reason == "length"
        else ""
    )
    if raw.startswith("(refusal) "):
        raise InvalidReply(f"the model refused: {raw[10:300]}", raw)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        try:
            data = extract_json(raw)
        except ValueError as exc:
            raise InvalidReply(f"{cut}the reply is not valid JSON ({exc})", raw) from None
    data = _wrap_bare_list(data, schema)
    try:
        value = schema.model_validate(data)
    except ValidationError as exc:
        reason = f"{cut}the JSON does not match the schema: {_describe(exc)}"
        raise InvalidReply(reason, raw) from None
    if isinstance(data, dict) and schema.model_fields and not _expected_keys(schema) & set(data):
        # a schema whose fields all have defaults turns {} or {"answer": ...} into an empty reply
        reason = (f"{cut}the JSON object has none of the expected keys "
                  f"({', '.join(sorted(_expected_keys(schema)))})")
        raise InvalidReply(reason, raw)
    if check is not None:
        try:
            check(value)
        except ValueError as exc:
            raise InvalidReply(str(exc) or type(exc).__name__, raw) from None
    return value


def _wrap_bare_list(data: Any, schema: type[BaseModel]) -> Any:
    """``[...]`` for a schema whose only field is a list becomes ``{field: [...]}``."""
    fields = schema.model_fields
    if isinstance(data, list) and len(fields) == 1:
        name, info = next(iter(fields.items()))
        if get_origin(info.annotation) is list or info.annotation is list:
            return {info.alias or name: data}
    return data


def _expected_keys(schema: type[BaseModel]) -> set[str]:
    """The top-level keys a reply for ``schema`` may use (field names and aliases)."""
    return {key for name, info in schema.model_fields.items() for key in (name, info.alias) if key}


def _describe(exc: ValidationError, limit: int = 8) -> str:
    """A compact, model-readable summary of a pydantic ValidationError."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = repr(err.get("input"))
        got = got if len(got) <= 80 else got[:77] + "..."
        parts.append(f"{loc}: {err['msg']} (got {got})")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more errors" if more > 0 else "")
