"""Drop records: why a sample was left out, in one shape for every role."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from evokd.samples.records import Drop

DropReason = Literal[
    "malformed_reply",  # the LLM gave no valid reply after its retries (raw text kept)
    "malformed_sample",  # a sample dict lacks its fields or has the wrong shapes
    "empty",  # no text / no tokens
    "too_long",  # more words than the cap for the task kind
    "unknown_label",  # a label or entity type outside the task's label set
    "span_not_found",  # an entity text that does not occur in the sentence / invalid tags
    "label_disagreement",  # classification: labeler's label != generator's intended label
    "leak",  # the normalised text is in the dev/test splits
    "seed_copy",  # a near-copy of a seed example
    "prompt_copy",  # the generator copied its own prompt (a format example, the analysis)
    "duplicate",  # the normalised text was seen before (earlier rounds or this batch)
    "near_duplicate",  # --quote-errors: nearly repeats a quoted mistake or an earlier sample
    "llm_rejected",  # the critic LLM judged the label wrong
]
DROP_REASONS: tuple[str, ...] = DropReason.__args__  # type: ignore[attr-defined]

MAX_WORDS = {"ner": 40, "cls": 80}
_WORD = re.compile(r"\S*\w\S*")


def word_count(text: str) -> int:
    """Number of whitespace-separated chunks containing a letter or digit."""
    return len(_WORD.findall(text))


def make_drop(
    reason: DropReason,
    detail: str,
    *,
    role: str,
    sample: Mapping[str, Any] | None = None,
    raw: str | None = None,
) -> Drop:
    """``{"reason", "detail", "role", "sample", "raw"}``; ``raw`` holds a failed LLM reply."""
    if reason not in DROP_REASONS:
        raise ValueError(f"unknown drop reason {reason!r}")
    return {
        "reason": reason,
        "detail": detail,
        "role": role,
        "sample": dict(sample) if sample is not None else None,
        "raw": raw,
    }


def reply_error_drop(error: Exception, *, role: str, sample: Mapping[str, Any] | None) -> Drop:
    """A ``malformed_reply`` drop from an ``LLMReplyError``, keeping its raw text."""
    reason = getattr(error, "reason", str(error))
    return make_drop(
        "malformed_reply",
        str(reason),
        role=role,
        sample=sample,
        raw=getattr(error, "raw_text", "") or "",
    )


def main_drop_reason(drops: Sequence[Mapping[str, Any]]) -> str:
    """The most common drop reason as ``"REASON (N of M drops, e.g. DETAIL)"``, or "" with no
    drops (the line a round that keeps nothing shows)."""
    reasons = [d.get("reason") for d in drops if isinstance(d, Mapping)]
    if not reasons:
        return ""
    top = max(set(reasons), key=lambda r: (reasons.count(r), str(r)))
    detail = next((str(d.get("detail") or "") for d in drops
                   if isinstance(d, Mapping) and d.get("reason") == top), "")
    example = f", e.g. {detail[:160]}" if detail else ""
    return f"{top} ({reasons.count(top)} of {len(reasons)} drops{example})"
