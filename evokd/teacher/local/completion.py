"""Turn a validated chat request into a completion: plain text, JSON, or a function call.

JSON and function calls put the schema in the prompt, pass it to the engine (which enforces it
when it can), cut the first balanced JSON object out of the reply, check it and retry once with
the error fed back (not after a reply cut off at max_tokens, which a retry would repeat). A
reply that still fails is returned as-is for the client to judge.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from evokd.teacher.local.engines import Generation, GenerationRequest
from evokd.teacher.local.protocol import ChatRequest, completion_body, tool_call
from evokd.teacher.local.structured import (
    JSONReplyError,
    compact_schema,
    extract_json_object,
    parse_json_reply,
    schema_errors,
    schema_instruction,
)

GenerateFn = Callable[[GenerationRequest], Awaitable[Generation]]
Check = Callable[[dict[str, Any]], list[str]]
JSON_ATTEMPTS = 2  # the first try plus one retry


@dataclass
class _Usage:
    prompt: int = 0
    completion: int = 0
    attempts: int = 0

    def add(self, gen: Generation) -> None:
        self.prompt += gen.prompt_tokens
        self.completion += gen.completion_tokens
        self.attempts += 1


def _request(
    req: ChatRequest, messages: list[dict[str, str]], schema: dict[str, Any] | None
) -> GenerationRequest:
    """What the engine generates for ``messages`` with the sampling settings of ``req``."""
    return GenerationRequest(messages, req.max_tokens, req.temperature, req.seed, schema, req.stop)


def with_instruction(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    """Append ``text`` to the system message (adding one if there is none)."""
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{text}".strip()}
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


async def _json_reply(
    req: ChatRequest, generate: GenerateFn, messages: list[dict[str, str]],
    schema: dict[str, Any], usage: _Usage, check: Check | None = None,
) -> tuple[dict[str, Any] | None, str, bool]:
    """Generate until a JSON object fits ``schema`` (one retry, not after a reply cut off at
    ``max_tokens``). Returns (obj, raw, truncated)."""
    raw, truncated = "", False
    for _ in range(JSON_ATTEMPTS):
        gen = await generate(_request(req, messages, schema))
        usage.add(gen)
        raw, truncated = gen.text, gen.completion_tokens >= req.max_tokens
        try:
            value = parse_json_reply(raw, schema)
            errors = check(value) if check else []
            if not errors:
                return value, raw, truncated
            error = "; ".join(errors[:5])
        except JSONReplyError as exc:
            error = str(exc)
        if truncated:  # a reply cut off at max_tokens (often a loop): a retry would be cut too
            break
        messages = [*messages, {"role": "assistant", "content": raw},
                    {"role": "user", "content": f"That reply is not usable: {error}. Reply again "
                     "with only the corrected JSON object."}]
    return None, raw, truncated


def _finish(truncated: bool, default: str) -> str:
    return "length" if truncated else default


async def complete(req: ChatRequest, generate: GenerateFn, model: str) -> dict[str, Any]:
    """Answer ``req`` using ``generate`` (the engine behind the server's queue)."""
    usage = _Usage()
    extra: dict[str, Any] = {}
    content: str | None
    calls: list[dict[str, Any]] | None = None
    tools = {t["name"]: t for t in req.tools}
    choice = req.tool_choice
    if choice == "required" and len(tools) == 1:
        choice = next(iter(tools))

    if choice in tools:  # one named function: its arguments are the JSON reply
        tool = tools[choice]
        params = tool["parameters"]
        about = f": {tool['description']}" if tool["description"] else ""
        ask = schema_instruction(params, f"the arguments for the function {choice!r}")
        messages = with_instruction(req.messages, f"Call the function {choice!r}{about}.\n{ask}")
        value, raw, truncated = await _json_reply(req, generate, messages, params, usage)
        calls = [tool_call(choice, value if value is not None else _best_effort(raw))]
        content, finish = None, _finish(truncated, "tool_calls")
        extra["evokd"] = {"attempts": usage.attempts, "json_valid": value is not None}
    elif choice == "required":  # several functions: choose one and give its arguments
        schema = {"type": "object", "required": ["name", "arguments"], "properties": {
            "name": {"type": "string", "enum": list(tools)}, "arguments": {"type": "object"}}}
        messages = with_instruction(req.messages, _tools_text(req.tools) + "\n" +
                                    schema_instruction(schema, "the function call"))

        def check(value: dict[str, Any]) -> list[str]:
            return schema_errors(value["arguments"], tools[value["name"]]["parameters"])

        value, raw, truncated = await _json_reply(req, generate, messages, schema, usage, check)
        if value is not None:
            calls = [tool_call(value["name"], value["arguments"])]
        else:
            calls = [tool_call(next(iter(tools)), _best_effort(raw))]
        content, finish = None, _finish(truncated, "tool_calls")
        extra["evokd"] = {"attempts": usage.attempts, "json_valid": value is not None}
    elif choice == "auto":  # the model may answer or call a function
        messages = with_instruction(req.messages, _tools_text(req.tools) + "\nTo call a function "
                                    'reply with only {"name": <function name>, "arguments": '
                                    "{...}}; otherwise answer normally.")
        gen = await generate(_request(req, messages, None))
        usage.add(gen)
        call = _auto_call(gen.text, tools)
        calls = [call] if call else None
        content = None if call else gen.text
        finish = _finish(gen.completion_tokens >= req.max_tokens,
                         "tool_calls" if call else "stop")
    elif req.response_format != "text":
        schema = req.json_schema or {}
        messages = with_instruction(req.messages, schema_instruction(schema or None))
        value, raw, truncated = await _json_reply(req, generate, messages, schema, usage)
        content = json.dumps(value, ensure_ascii=False) if value is not None else raw
        finish = _finish(truncated, "stop")
        extra["evokd"] = {"attempts": usage.attempts, "json_valid": value is not None}
    else:
        gen = await generate(_request(req, req.messages, None))
        usage.add(gen)
        content, finish = gen.text, _finish(gen.completion_tokens >= req.max_tokens,
                                            "stop")
    return completion_body(model, content, calls, finish, usage.prompt, usage.completion, extra)


def _tools_text(tools: list[dict[str, Any]]) -> str:
    lines = ["You can call these functions:"]
    for tool in tools:
        params = json.dumps(compact_schema(tool["parameters"]), separators=(",", ":"))
        lines.append(f"- {tool['name']}: {tool['description']} Parameters: {params}")
    return "\n".join(lines)


def _best_effort(raw: str) -> str:
    """The JSON-looking part of a failed reply (the client's validation reports it)."""
    try:
        return json.dumps(extract_json_object(raw), ensure_ascii=False)
    except JSONReplyError:
        return raw


def _auto_call(text: str, tools: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    try:
        value = extract_json_object(text)
    except JSONReplyError:
        return None
    name, args = value.get("name"), value.get("arguments", value.get("parameters"))
    if name in tools and isinstance(args, dict):
        return tool_call(name, args)
    return None
