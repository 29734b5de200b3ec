"""Exceptions raised by the teacher client.

Callers need to tell three situations apart:

- ``LLMReplyError``: this one request produced no usable reply (malformed or invalid output after
  every validation retry, or the endpoint failed this request). Catch it, drop the sample, keep
  its ``raw_text`` in the trace, carry on.
- ``TeacherUnavailable``: the endpoint cannot be used at all (bad key, unknown model, nothing
  listening, timeouts). The message is one line saying what is wrong and what to do; stop the run.
- ``BudgetExhausted``: the token budget is spent; stop the loop gracefully.

``map_api_error`` turns the openai SDK's errors into these.
"""

from __future__ import annotations

import re

import openai

from evokd.teacher.bounded_http import ReplyTooLarge
from evokd.teacher.settings import TeacherSettings


class TeacherError(Exception):
    """Base class of every error the teacher client raises on purpose."""


class LLMReplyError(TeacherError):
    """No valid reply for one request (after all validation retries).

    Attributes:
        role: the agent role that asked (``"labeler"``, ...).
        reason: human-readable reason of the last failure.
        raw_text: the last raw reply text ("" when the endpoint returned none).
    """

    def __init__(self, role: str, reason: str, raw_text: str = "") -> None:
        super().__init__(f"{role}: {reason}")
        self.role = role
        self.reason = reason
        self.raw_text = raw_text


class TeacherUnavailable(TeacherError):
    """The LLM endpoint cannot be used; the message says what to fix (never contains the key)."""


class BudgetExhausted(TeacherError):
    """The token budget was reached before a new request; the graph stops the loop."""

    def __init__(self, used_tokens: int, budget_tokens: int) -> None:
        super().__init__(f"token budget exhausted: {used_tokens} of {budget_tokens} tokens used")
        self.used_tokens = used_tokens
        self.budget_tokens = budget_tokens


# -- from the openai SDK's errors -----------------------------------------------------------


def map_api_error(exc: openai.APIError, settings: TeacherSettings, role: str) -> TeacherError:
    """Translate an SDK error (after its own retries) into TeacherUnavailable/LLMReplyError."""
    s = settings
    url, retries = s.base_url, s.http_retries
    if isinstance(exc, ReplyTooLarge):
        return LLMReplyError(role, str(exc))
    if isinstance(exc, openai.APITimeoutError):
        return TeacherUnavailable(
            f"the LLM endpoint {url} did not answer within {s.timeout_s:g}s "
            f"({retries} retries): check that it is up, or raise --timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return TeacherUnavailable(
            f"cannot connect to the LLM endpoint {url} ({retries} retries): check "
            "--base-url / OPENAI_BASE_URL and that the server is running"
        )
    if not isinstance(exc, openai.APIStatusError):
        return LLMReplyError(role, redact(f"malformed response: {exc}", s.api_key)[:300])
    status, detail = exc.status_code, redact(_server_message(exc), s.api_key)
    if isinstance(exc, openai.AuthenticationError):
        return TeacherUnavailable(
            f"the LLM endpoint {url} rejected the API key (401): set OPENAI_API_KEY "
            "to a valid key for this endpoint"
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return TeacherUnavailable(
            f"the LLM endpoint {url} denied access to model '{s.model}' (403): use a key "
            "allowed to call it, or another --model"
        )
    if isinstance(exc, openai.NotFoundError):
        return TeacherUnavailable(
            f"the LLM endpoint {url} has no model '{s.model}' or no chat API (404: "
            f"{detail}): check --model, and that --base-url ends with /v1"
        )
    if isinstance(exc, openai.RateLimitError) and _error_code(exc) == "insufficient_quota":
        return TeacherUnavailable(
            f"the LLM endpoint {url} reports the account's quota is used up (429): "
            "add credit or use another key"
        )
    if status in (400, 422) and re.search(
        r"response_format|json_schema|json_object|tool_choice|tools", detail, re.I
    ):
        return TeacherUnavailable(
            f"the LLM endpoint {url} does not accept structured output method "
            f"'{s.structured_method}' ({status}: {detail}): choose another "
            "structured_method (json_object works almost everywhere)"
        )
    after = f" after {retries} retries" if status in (408, 409, 429) or status >= 500 else ""
    return LLMReplyError(role, f"the endpoint answered {status}{after}: {detail}")


# what API keys look like (OpenAI's ``sk-...`` and the like), masked in any stored text
KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{15,}")


def redact(text: str, api_key: str) -> str:
    """``text`` with ``api_key`` and anything that looks like an API key masked (in case an
    endpoint echoes one)."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "***")
    return KEY_LIKE.sub("***", text)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)[:300]
    return (exc.message or f"HTTP {exc.status_code}")[:300]


def _error_code(exc: openai.APIStatusError) -> str | None:
    code = getattr(exc, "code", None)
    if code is None and isinstance(exc.body, dict):
        inner = exc.body.get("error", exc.body)
        code = inner.get("code") if isinstance(inner, dict) else None
    return str(code) if code is not None else None
