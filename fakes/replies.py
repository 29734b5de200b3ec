"""Scripted replies of the fake OpenAI server: ``Reply`` and the ``Script`` responder.

A responder receives the parsed chat-completions request JSON and returns a ``str`` (assistant
content) or a ``Reply`` (status, headers, tool call, delay, raw body for fault injection).
``Script`` is a ready-made responder of ordered matching rules::

    Script(default="{}").on("capital", '{"city": "Paris"}').on(re.compile("bad"), Reply.error(500))
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Reply:
    """A scripted reply.

    Attributes:
        content: assistant content (or the tool call's arguments).
        status: HTTP status; non-200 sends an OpenAI-style error body.
        headers: extra response headers (e.g. ``{"Retry-After": "0.1"}``).
        tool_call: None = a tool call exactly when the request has ``tools``; True/False force.
        finish_reason: None = "stop" (or "tool_calls" for a tool call); "length" simulates a
            reply cut off at max_tokens.
        error_message / error_type / error_code: the error body for non-200 replies.
        delay: extra seconds to wait before answering (on top of the server's latency); a
            large value simulates a hung server.
        raw_body: send exactly these bytes/text as the body (fault injection: truncated or
            non-JSON bodies); ``status``/``headers`` still apply.
        usage: override the computed ``usage`` object (``{}`` sends none).
        drop: close the connection without answering (a dropped connection).
        trickle: send the body one byte every ``trickle`` seconds (an endpoint that keeps a
            request alive without ever finishing it in time).
    """

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    tool_call: bool | None = None
    finish_reason: str | None = None
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    delay: float = 0.0
    raw_body: str | bytes | None = None
    usage: dict[str, int] | None = None
    drop: bool = False
    trickle: float = 0.0

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An HTTP error reply, e.g. ``Reply.error(429, retry_after=0.1)``."""
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = f"{retry_after:g}"
        return cls(status=status, headers=hdrs, error_message=message, error_code=code)


ReplyLike = str | Reply
Responder = Callable[[dict[str, Any]], ReplyLike | Awaitable[ReplyLike]]


def last_user_text(request: dict[str, Any]) -> str:
    """Text of the last user message of a chat-completions request ("" if none)."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def all_messages_text(request: dict[str, Any]) -> str:
    """All message contents of a request joined by newlines."""
    return "\n".join(_text(m.get("content")) for m in request.get("messages") or [])


@dataclass
class Rule:
    """One ``Script`` rule: when ``pattern`` matches, answer ``reply``.

    ``pattern``: a substring, or a compiled regex (``re.search``). ``where``: "last_user" (the
    last user message) or "all" (every message's content). ``times``: fire at most this many
    times (None = always). ``reply``: str, Reply, or a callable(request) returning one.
    """

    pattern: str | re.Pattern[str]
    reply: ReplyLike | Callable[[dict[str, Any]], ReplyLike]
    where: Literal["last_user", "all"] = "last_user"
    times: int | None = None
    hits: int = 0

    def matches(self, request: dict[str, Any]) -> bool:
        """Whether this rule applies to ``request`` (ignores ``times``)."""
        text = last_user_text(request) if self.where == "last_user" else all_messages_text(request)
        if isinstance(self.pattern, re.Pattern):
            return self.pattern.search(text) is not None
        return self.pattern in text


class Script:
    """Responder of ordered rules; the first live matching rule answers, else ``default``.

    ``Script(default='{}').on("label", '{"entities": []}').on(re.compile("bad"), Reply.error(500))``
    """

    def __init__(
        self,
        rules: list[Rule] | None = None,
        default: ReplyLike | Callable[[dict[str, Any]], ReplyLike] = "{}",
    ) -> None:
        self.rules: list[Rule] = list(rules or [])
        self.default = default
        self._lock = threading.Lock()

    def on(
        self,
        pattern: str | re.Pattern[str],
        reply: ReplyLike | Callable[[dict[str, Any]], ReplyLike],
        *,
        where: Literal["last_user", "all"] = "last_user",
        times: int | None = None,
    ) -> Script:
        """Append a rule and return self (chainable)."""
        self.rules.append(Rule(pattern, reply, where, times))
        return self

    def __call__(self, request: dict[str, Any]) -> ReplyLike:
        with self._lock:
            chosen = self.default
            for rule in self.rules:
                if (rule.times is None or rule.hits < rule.times) and rule.matches(request):
                    rule.hits += 1
                    chosen = rule.reply
                    break
        return chosen(request) if callable(chosen) else chosen


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""
