"""Exceptions raised by the teacher client.

Callers need to tell three situations apart:

- ``LLMReplyError``: this one request produced no usable reply (malformed or invalid output after
  every validation retry, or the endpoint failed this request). Catch it, drop the sample, keep
  its ``raw_text`` in the trace, carry on.
- ``TeacherUnavailable``: the endpoint cannot be used at all (bad key, unknown model, nothing
  listening, timeouts). The message is one line saying what is wrong and what to do; stop the run.
- ``BudgetExhausted``: the token budget is spent; stop the loop gracefully.
"""

from __future__ import annotations


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
