"""Reading a chat model's answer back: the raw reply text, its finish reason and token usage."""

from __future__ import annotations

import json
from typing import Any

import openai
from langchain_core.messages import AIMessage, BaseMessage

from evokd.teacher.settings import StructuredMethod


def reply_text(message: BaseMessage, method: StructuredMethod) -> str:
    """The raw reply: the forced tool call's arguments, else the message text."""
    if isinstance(message, AIMessage) and method == "function_calling":
        if message.tool_calls:
            return json.dumps(message.tool_calls[0]["args"], ensure_ascii=False)
        if message.invalid_tool_calls:
            return str(message.invalid_tool_calls[0].get("args") or "")
    text = _content_text(message.content)
    refusal = message.additional_kwargs.get("refusal")
    if not text and refusal:
        return f"(refusal) {refusal}"
    return text


def finish_reason(message: BaseMessage) -> str | None:
    """Why the model stopped (``stop``, ``length``, ...), when the endpoint says."""
    reason = message.response_metadata.get("finish_reason")
    return str(reason) if reason is not None else None


def usage(message: BaseMessage, convo: list[dict[str, str]], raw: str) -> tuple[int, int]:
    """Prompt and completion tokens: as reported, else estimated from the text."""
    reported = getattr(message, "usage_metadata", None)
    if reported:
        return int(reported.get("input_tokens") or 0), int(reported.get("output_tokens") or 0)
    return _estimate_tokens("".join(m["content"] for m in convo)), _estimate_tokens(raw)


def from_completion(
    exc: openai.LengthFinishReasonError | openai.ContentFilterFinishReasonError,
) -> AIMessage:
    """The reply inside a completion the SDK refused to parse (cut off or filtered)."""
    completion = exc.completion
    finish = "length" if isinstance(exc, openai.LengthFinishReasonError) else "content_filter"
    text = ""
    if completion is not None and completion.choices:
        choice = completion.choices[0].message
        text = choice.content or ""
        if not text and choice.tool_calls:
            function = getattr(choice.tool_calls[0], "function", None)
            text = (function.arguments if function is not None else "") or ""
    tokens = None
    if completion is not None and completion.usage is not None:
        prompt, output = completion.usage.prompt_tokens, completion.usage.completion_tokens
        tokens = {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}
    return AIMessage(
        content=text,
        usage_metadata=tokens,
        response_metadata={"finish_reason": finish},
    )


def _content_text(content: Any) -> str:
    """Message content as text (str content, or the text blocks of a block list)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _estimate_tokens(text: str) -> int:
    """Rough token count (4 characters a token) for endpoints that report no usage."""
    return max(1, len(text) // 4) if text else 0
