"""The HTTP side of a teacher call: the langchain-openai ``ChatOpenAI`` model and the request
arguments that ask it for structured output."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from teacher.settings import StructuredMethod, TeacherSettings

NO_KEY = "EMPTY"  # what local servers without auth expect; a real endpoint answers 401
ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
# What langchain raises on a 200 response that is not a usable chat completion.
MALFORMED = (ValueError, KeyError, TypeError, IndexError, AttributeError)


def build_chat_model(settings: TeacherSettings, http_client: Any) -> ChatOpenAI:
    """The chat model for ``settings``, sending through ``http_client`` (an httpx client
    created in the running event loop: langchain-openai's default one is cached process-wide
    and breaks once the loop it was first used in is closed)."""
    s = settings
    return ChatOpenAI(
        model=s.model,
        base_url=s.base_url,
        api_key=s.api_key or NO_KEY,
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        timeout=s.timeout_s,
        max_retries=s.http_retries,
        seed=s.seed,
        http_async_client=http_client,
        use_responses_api=False,
        include_response_headers=True,  # x-ratelimit-* for the pacer
    )


def new_http_client() -> Any:
    """An async HTTP client for ``build_chat_model``, bound to the running loop."""
    return openai.DefaultAsyncHttpxClient()


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
