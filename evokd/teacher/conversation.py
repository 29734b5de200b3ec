"""The conversation a teacher call sends: the caller's messages, the schema instruction
(for json_object) and the correction appended after an invalid reply."""

from __future__ import annotations

import json

from pydantic import BaseModel

from evokd.teacher.settings import StructuredMethod
from evokd.teacher.transport import ROLES, json_schema_of


def request_messages(
    messages: list[dict[str, str]], schema: type[BaseModel], method: StructuredMethod
) -> list[dict[str, str]]:
    """The conversation as sent: a copy of ``messages``; for json_object, the schema is
    described in the system message."""
    for m in messages:
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"bad message {m!r}: need role system|user|assistant + content")
    convo = [{"role": m["role"], "content": m["content"]} for m in messages]
    if method != "json_object":
        return convo
    instruction = (
        "Answer with a single JSON object and nothing else (no markdown, no prose). "
        "It must conform to this JSON schema:\n"
        + json.dumps(json_schema_of(schema), ensure_ascii=False, separators=(",", ":"))
    )
    if convo and convo[0]["role"] == "system":  # some chat templates allow one system msg
        convo[0] = {"role": "system", "content": f"{convo[0]['content']}\n\n{instruction}"}
    else:
        convo.insert(0, {"role": "system", "content": instruction})
    return convo


QUOTED_CHARS = 2000  # of a bad reply shown back to the model: its end, where most go wrong


def quoted(raw_text: str) -> str:
    """A bad reply as a retry shows it: whole, or its last ``QUOTED_CHARS`` characters."""
    if len(raw_text) <= QUOTED_CHARS:
        return raw_text
    left_out = len(raw_text) - QUOTED_CHARS
    return f"[... first {left_out} characters left out]{raw_text[-QUOTED_CHARS:]}"


def correction(raw_text: str, reason: str, method: StructuredMethod) -> list[dict[str, str]]:
    """Messages appended after an invalid reply: the reply (at most its last ``QUOTED_CHARS``
    characters) and what was wrong."""
    if method == "function_calling":
        how = "Call the function again with corrected arguments."
    else:
        how = "Reply again with only the corrected JSON object, nothing else."
    return [
        {"role": "assistant", "content": quoted(raw_text) or "(empty reply)"},
        {
            "role": "user",
            "content": f"Your previous reply could not be used: {reason}\n{how}",
        },
    ]
