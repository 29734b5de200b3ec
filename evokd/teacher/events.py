"""The ``llm_call`` trace events: one per attempt of a teacher call, ok or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evokd.teacher.errors import LLMReplyError
from evokd.teacher.validation import InvalidReply, Reply

Emit = Callable[[dict[str, Any]], None]

RAW_TRACE_CHARS = 2000


def attempt_event(
    base: dict[str, Any], reply: Reply, invalid: InvalidReply | None
) -> dict[str, Any]:
    """The event of an attempt that got a reply (``invalid``: why it was not usable)."""
    event: dict[str, Any] = {
        "event": "llm_call",
        **base,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "latency_s": round(reply.latency_s, 4),
        "cached": reply.cached,
        "ok": invalid is None,
        "error": None if invalid is None else invalid.reason,
    }
    if invalid is not None:
        event["raw"] = reply.raw_text[:RAW_TRACE_CHARS]
    return event


def failure_event(base: dict[str, Any], exc: Exception, latency_s: float) -> dict[str, Any]:
    """The event of an attempt that got no reply (the endpoint failed or sent garbage)."""
    reason = exc.reason if isinstance(exc, InvalidReply | LLMReplyError) else str(exc)
    return {
        "event": "llm_call",
        **base,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "latency_s": round(latency_s, 4),
        "cached": False,
        "ok": False,
        "error": reason,
        "raw": "",
    }


def emit_event(emit: Emit | None, event: dict[str, Any]) -> None:
    """Hand ``event`` to ``emit`` when there is one."""
    if emit is not None:
        emit(event)
