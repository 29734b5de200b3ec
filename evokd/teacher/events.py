"""The ``llm_call`` trace events: one per attempt of a teacher call, ok or not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evokd.core import trace
from evokd.core.trace import LlmCall
from evokd.teacher.errors import LLMReplyError
from evokd.teacher.validation import InvalidReply, Reply

Emit = Callable[[Mapping[str, Any]], None]
Attempt = tuple[str, int, int]  # role, round, attempt number

RAW_TRACE_CHARS = 2000


def attempt_event(attempt: Attempt, reply: Reply, invalid: InvalidReply | None) -> LlmCall:
    """The event of an attempt that got a reply (``invalid``: why it was not usable)."""
    return trace.llm_call(
        *attempt, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        latency_s=reply.latency_s, cached=reply.cached,
        error=None if invalid is None else invalid.reason,
        raw=None if invalid is None else reply.raw_text[:RAW_TRACE_CHARS])


def failure_event(attempt: Attempt, exc: Exception, latency_s: float) -> LlmCall:
    """The event of an attempt that got no reply (the endpoint failed or sent garbage)."""
    reason = exc.reason if isinstance(exc, InvalidReply | LLMReplyError) else str(exc)
    return trace.llm_call(*attempt, latency_s=latency_s, error=reason, raw="")


def emit_event(emit: Emit | None, event: Mapping[str, Any]) -> None:
    """Hand ``event`` to ``emit`` when there is one."""
    if emit is not None:
        emit(event)
