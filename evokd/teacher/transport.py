"""The HTTP side of a teacher call: the langchain-openai ``ChatOpenAI`` model and the request
arguments that ask it for structured output."""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import re
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from evokd.teacher.bounded_http import BoundedHttpClient, reply_byte_limit
from evokd.teacher.settings import StructuredMethod, TeacherSettings

NO_KEY = "EMPTY"  # what local servers without auth expect; a real endpoint answers 401
ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
# What langchain raises on a 200 response that is not a usable chat completion.
MALFORMED = (ValueError, KeyError, TypeError, IndexError, AttributeError)


# Request arguments the SDK reads itself; the rest is the JSON body.
SDK_ARGUMENTS = frozenset({"model", "stream", "extra_headers", "extra_query", "extra_body",
                           "timeout"})


class LeanChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that hands the SDK its request body as ``extra_body``, merged into the
    JSON as it is. The body langchain builds is plain JSON already; the SDK's typed transform
    of it (a recursive walk of every message against the message TypedDicts) leaves it as it
    was and cost about 40 % of the client's CPU per call. Replies are read back as before."""

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None,
                             **kwargs: Any) -> dict[str, Any]:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        body = {key: payload.pop(key) for key in list(payload) if key not in SDK_ARGUMENTS}
        return {**payload, "messages": [], "extra_body": {**(payload.get("extra_body") or {}),
                                                          **body}}


def build_chat_model(settings: TeacherSettings, http_client: Any) -> ChatOpenAI:
    """The chat model for ``settings``, sending through ``http_client`` (an httpx client
    created in the running event loop: langchain-openai's default one is cached process-wide
    and breaks once the loop it was first used in is closed)."""
    s = settings
    return LeanChatOpenAI(
        model=s.model,
        base_url=s.base_url,
        api_key=SecretStr(s.api_key or NO_KEY),
        temperature=s.temperature,
        max_completion_tokens=s.max_tokens,
        timeout=s.timeout_s,
        max_retries=s.http_retries,
        seed=s.seed,
        http_async_client=http_client,
        use_responses_api=False,
        include_response_headers=True,  # x-ratelimit-* for the pacer
    )


def new_http_client(settings: TeacherSettings) -> Any:
    """An async HTTP client for ``build_chat_model``, bound to the running loop: each request
    bounded by ``timeout_s`` in total and by what ``max_tokens`` can hold in size."""
    return BoundedHttpClient(total_s=settings.timeout_s,
                             max_bytes=reply_byte_limit(settings.max_tokens))


CONNECTIONS_PER_CLIENT = 16


class ModelPool:
    """The chat models of one event loop, spread over HTTP clients of about
    ``CONNECTIONS_PER_CLIENT`` requests in flight each: before every request an HTTP connection
    pool checks each connection it holds (a socket call apiece), so at 128 in flight one pool
    spends more client CPU per call than eight pools of 16 (measured in bench/call_rate.py)."""

    def __init__(self, settings: TeacherSettings) -> None:
        shards = max(1, math.ceil(settings.max_concurrency / CONNECTIONS_PER_CLIENT))
        self._http = [new_http_client(settings) for _ in range(shards)]
        self._models = [build_chat_model(settings, http) for http in self._http]
        self._busy = [0] * shards

    @contextlib.contextmanager
    def model(self) -> Iterator[ChatOpenAI]:
        """The chat model of the least busy HTTP client, for one request."""
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            yield self._models[index]
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        """Close every HTTP client."""
        for http in self._http:
            await http.aclose()


def structured_kwargs(schema: type[BaseModel], method: StructuredMethod) -> dict[str, Any]:
    """Request arguments that ask for structured output by ``method``."""
    name = schema_name(schema)
    json_schema = copy.deepcopy(json_schema_of(schema))  # the request may be mutated downstream
    if method == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": json_schema, "strict": False},
            }
        }
    if method == "function_calling":
        function = {"name": name, "parameters": json_schema}
        if schema.__doc__:
            function["description"] = schema.__doc__.strip()[:1000]
        return {
            "tools": [{"type": "function", "function": function}],
            "tool_choice": {"type": "function", "function": {"name": name}},
        }
    return {"response_format": {"type": "json_object"}}


@functools.lru_cache(maxsize=256)
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema's JSON schema (computed once per class; treat as read-only)."""
    return schema.model_json_schema()


def schema_name(schema: type[BaseModel]) -> str:
    """The schema's class name, restricted to what OpenAI accepts as a function name."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", schema.__name__)[:64] or "reply"


def to_langchain(convo: list[dict[str, str]]) -> list[BaseMessage]:
    """``{"role", "content"}`` dicts as langchain messages."""
    return [ROLES[m["role"]](content=m["content"]) for m in convo]
