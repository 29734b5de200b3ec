"""The OpenAI chat-completions wire format: request validation and response bodies."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_TOKENS = 512
MAX_STOP = 4


class RequestError(ValueError):
    """A client error, answered with HTTP ``status`` and an OpenAI-style error body."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """``{"error": {...}}`` as the OpenAI API sends it."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class ChatRequest:
    """A validated chat-completions request."""

    messages: list[dict[str, str]]
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.7
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    response_format: str = "text"  # text | json_object | json_schema
    json_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # {"name", "description", ...}
    tool_choice: str = "none"  # none | auto | required | <function name>


def _text_of(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
            else:
                raise RequestError(f"messages[{index}].content: only text parts are supported",
                                   "messages")
        return "\n".join(parts)
    raise RequestError(f"messages[{index}].content must be a string or a list of text parts",
                       "messages")


def _message(raw: Any, index: int) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise RequestError(f"messages[{index}] must be an object", "messages")
    role = raw.get("role")
    if role not in ("system", "developer", "user", "assistant", "tool", "function"):
        raise RequestError(f"messages[{index}].role {role!r} is not a valid role", "messages")
    text = _text_of(raw.get("content"), index)
    if role == "developer":
        role = "system"
    elif role == "assistant" and raw.get("tool_calls"):
        calls = [{"name": c.get("function", {}).get("name"),
                  "arguments": c.get("function", {}).get("arguments")}
                 for c in raw["tool_calls"] if isinstance(c, dict)]
        text = (text + "\n" if text else "") + json.dumps(calls, ensure_ascii=False)
    elif role in ("tool", "function"):
        role, text = "user", f"Tool result: {text}"
    return {"role": role, "content": text}


def _merge_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """One leading system message (several confuse small chat templates)."""
    system = [m["content"] for m in messages if m["role"] == "system" and m["content"]]
    rest = [m for m in messages if m["role"] != "system"]
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + rest


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise RequestError(f"{key} must be a number between {lo} and {hi}", key)
    return float(value)


def _int(body: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RequestError(f"{key} must be an integer between {lo} and {hi}", key)
    return value


def _response_format(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    fmt = body.get("response_format")
    if fmt is None:
        return "text", None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise RequestError("response_format.type must be text, json_object or json_schema",
                           "response_format")
    if fmt["type"] == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise RequestError("response_format.json_schema.schema must be a JSON schema object",
                               "response_format")
        return "json_schema", schema
    if fmt["type"] == "json_object":
        schema = fmt.get("schema")  # llama.cpp-style extension
        return "json_object", schema if isinstance(schema, dict) else {}
    return "text", None


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise RequestError("tools must be a list", "tools")
    tools = []
    for i, tool in enumerate(raw):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError(f"tools[{i}] must be {{'type': 'function', 'function': "
                               "{'name': ..., 'parameters': {...}}}", "tools")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append({"name": fn["name"], "description": fn.get("description", ""),
                      "parameters": params})
    choice = body.get("tool_choice")
    if not tools:
        return [], "none"
    if choice is None:
        return tools, "auto"
    if isinstance(choice, str) and choice in ("none", "auto", "required"):
        return tools, choice
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str) or name not in {t["name"] for t in tools}:
        raise RequestError("tool_choice must be none, auto, required or "
                           "{'type': 'function', 'function': {'name': <a tool's name>}}",
                           "tool_choice")
    return tools, name


def parse_chat_request(body: Any, max_context: int) -> ChatRequest:
    """Validate a decoded JSON body; raise ``RequestError`` with a clear message if invalid."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    if body.get("stream"):
        raise RequestError("stream=true is not supported by the local teacher; "
                           "send stream=false", "stream")
    if body.get("n") not in (None, 1):
        raise RequestError("only n=1 is supported", "n")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' is required and must be a non-empty list", "messages")
    parsed = _merge_system([_message(m, i) for i, m in enumerate(messages)])
    if not any(m["role"] in ("user", "assistant") for m in parsed):
        raise RequestError("messages must contain at least one user message", "messages")
    max_tokens = _int(body, "max_completion_tokens", 1, max_context)
    if max_tokens is None:
        max_tokens = _int(body, "max_tokens", 1, max_context)
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > MAX_STOP or not all(
        isinstance(s, str) for s in stop
    ):
        raise RequestError(f"stop must be a string or a list of up to {MAX_STOP} strings", "stop")
    fmt, schema = _response_format(body)
    tools, choice = _tools(body)
    temperature = _number(body, "temperature", 0.0, 2.0)
    return ChatRequest(
        messages=parsed,
        max_tokens=min(max_tokens or DEFAULT_MAX_TOKENS, max_context),
        temperature=0.7 if temperature is None else temperature,
        seed=_int(body, "seed", -(2**63), 2**63 - 1),
        stop=stop,
        response_format=fmt,
        json_schema=schema,
        tools=tools,
        tool_choice=choice,
    )


def completion_body(model: str, content: str | None, tool_calls: list[dict[str, Any]] | None,
                    finish_reason: str, prompt_tokens: int, completion_tokens: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``chat.completion`` response object."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "evokd-local",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
    if extra:
        body.update(extra)
    return body


def tool_call(name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """One entry of ``message.tool_calls``."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": name, "arguments": args}}
