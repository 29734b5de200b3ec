"""One client for any OpenAI-compatible chat endpoint (langchain-openai ``ChatOpenAI``).

Layers, one per failure kind:

- HTTP: the openai SDK retries 408/409/429/5xx and connection errors itself (``max_retries``,
  honours ``Retry-After``); nothing here retries them again.
- Content: a tenacity loop re-asks when the reply is not valid JSON, does not match the schema
  or fails the caller's ``check``, feeding the error back to the model.
- Concurrency: one ``asyncio.Semaphore(max_concurrency)`` shared by every role and call.
- Pacing: ``rpm`` / ``tpm`` limits and the server's rate-limit headers (``teacher.pacing``).
- Budget: each call reserves its prompt + ``max_tokens`` before it is sent (a hard cap).
- Cache: every raw reply is stored, so a rerun replays the same replies with no server calls.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_origin

import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from teacher.cache import CachedReply, ResponseCache, cache_key
from teacher.errors import BudgetExhausted, LLMReplyError, TeacherError, TeacherUnavailable
from teacher.jsonfix import extract_json
from teacher.ledger import TokenLedger
from teacher.pacing import Pacer
from teacher.settings import TeacherSettings

T = TypeVar("T", bound=BaseModel)
Emit = Callable[[dict[str, Any]], None]

RAW_TRACE_CHARS = 2000
_NO_KEY = "EMPTY"  # what local servers without auth expect; a real endpoint answers 401
_ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
# What langchain raises on a 200 response that is not a usable chat completion.
_MALFORMED = (ValueError, KeyError, TypeError, IndexError, AttributeError)


@dataclass(frozen=True)
class _Reply:
    """A raw reply with its accounting, from the server or the cache."""

    raw_text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    cached: bool
    latency_s: float


class _InvalidReply(Exception):
    """One attempt gave no usable value; retried by the validation loop."""

    def __init__(self, reason: str, raw_text: str = "", *, from_model: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw_text = raw_text
        self.from_model = from_model  # False: malformed HTTP body, nothing to show the model



def call_seed(seed: int | None, call_key: str) -> int | None:
    """The sampling seed of one call: the run's seed mixed with ``call_key`` (stable across
    processes), or None when the run sets no seed."""
    if seed is None or not call_key:
        return seed
    return zlib.crc32(f"{seed}|{call_key}".encode()) & 0x7FFFFFFF

class TeacherClient:
    """Ask the teacher LLM for structured replies; see ``ask``.

    Attributes:
        settings: the endpoint and generation settings.
        cache: the response cache, or None (no caching).
        ledger: tokens and calls so far, per role and round.
        in_flight: requests being sent right now (for progress displays).
    """

    def __init__(self, settings: TeacherSettings, cache: ResponseCache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.ledger = TokenLedger()
        self._reserved = 0  # tokens held for calls in flight (the hard budget)
        self.pacer = Pacer(settings.rpm, settings.tpm, window_s=settings.rate_window_s,
                           concurrency=settings.max_concurrency)
        self.in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._llm: ChatOpenAI | None = None
        self._http: Any = None

    async def ask(
        self,
        role: str,
        messages: list[dict[str, str]],
        schema: type[T],
        *,
        round_no: int,
        check: Callable[[T], None] | None = None,
        emit: Emit | None = None,
        temperature: float | None = None,
        call_key: str = "",
    ) -> T:
        """Ask for one reply that parses into ``schema`` and passes ``check``.

        Args:
            role: agent role, for accounting and traces.
            messages: ``{"role": "system"|"user"|"assistant", "content": str}`` dicts.
            schema: pydantic model the reply must validate against.
            round_no: loop round, for accounting.
            check: extra validator; raises ValueError with a readable message when invalid.
            emit: receives one ``llm_call`` trace event per attempt.
            temperature: overrides ``settings.temperature`` for this call.
            call_key: makes otherwise identical requests distinct in the cache, and gives
                each call its own sampling seed (derived from ``settings.seed``) so that
                similar prompts in different calls do not draw the same sample.

        Raises:
            LLMReplyError: no valid reply after ``validation_retries`` extra attempts, or the
                endpoint failed this request (429/5xx after the SDK's retries, 400).
            TeacherUnavailable: the endpoint cannot be used (key, model, connection, timeout).
            BudgetExhausted: ``budget_tokens`` was reached, or this call (its prompt and
                ``max_tokens``, reserved before it is sent) could cross it.
        """
        self._check_budget()
        convo = self.request_messages(messages, schema)
        attempt_no = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.validation_retries + 1),
            retry=retry_if_exception_type(_InvalidReply),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_no += 1
                    event = {"role": role, "round": round_no, "attempt": attempt_no}
                    started = time.perf_counter()
                    try:
                        reply = await self._fetch(
                            role, round_no, convo, schema, temperature, call_key
                        )
                    except BudgetExhausted:
                        raise
                    except (TeacherError, _InvalidReply) as exc:
                        _emit(emit, _failure_event(event, exc, time.perf_counter() - started))
                        raise
                    try:
                        value = _validate(reply, schema, check)
                    except _InvalidReply as exc:
                        _emit(emit, _attempt_event(event, reply, exc))
                        convo = [*convo, *self._correction(reply.raw_text, exc.reason)]
                        raise
                    _emit(emit, _attempt_event(event, reply, None))
                    return value
        except _InvalidReply as exc:
            raise LLMReplyError(role, self._redact(exc.reason), exc.raw_text) from None
        raise AssertionError("unreachable: the retry loop either returns or raises")

    async def aclose(self) -> None:
        """Close the HTTP connections (the cache is the caller's to close).

        Call it from the loop that made the requests; connections opened in an event loop
        that has since ended are just dropped (they died with that loop).
        """
        http, loop = self._http, self._loop
        self._http = self._llm = self._loop = self._semaphore = None
        if http is not None and loop is asyncio.get_running_loop():
            await http.aclose()

    async def __aenter__(self) -> TeacherClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one attempt ------------------------------------------------------------------------

    async def _fetch(
        self,
        role: str,
        round_no: int,
        convo: list[dict[str, str]],
        schema: type[BaseModel],
        temperature: float | None,
        call_key: str,
    ) -> _Reply:
        """One reply for ``convo``: from the cache, else from the server (then cached)."""
        s = self.settings
        temp = s.temperature if temperature is None else temperature
        seed = call_seed(s.seed, call_key)
        params = {
            "temperature": temp,
            "max_tokens": s.max_tokens,
            "seed": seed,
            "method": s.structured_method,
            "call_key": call_key,
        }
        key = cache_key(s.model, convo, params, _json_schema(schema))
        need = self._reservation(convo)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self._check_budget(need)  # the same decision a server call would get
            self.ledger.record(
                role, round_no, hit.prompt_tokens, hit.completion_tokens, cached=True
            )
            return _Reply(
                hit.raw_text, hit.prompt_tokens, hit.completion_tokens, hit.finish_reason, True, 0.0
            )
        semaphore, llm = self._resources()
        kwargs = {**self._structured_kwargs(schema), "temperature": temp}
        if seed is not None:
            kwargs["seed"] = seed
        lc_messages = _to_langchain(convo)
        async with semaphore:
            if self.pacer.active:
                await self.pacer.acquire(need)
            self._check_budget(need)  # queued asks stop here once the budget is spent meanwhile
            self._reserved += need
            self.in_flight += 1
            started = time.perf_counter()
            try:
                message = await llm.ainvoke(lc_messages, **kwargs)
            except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
                message = _from_completion(exc)  # the SDK refused to parse a cut-off reply
            except openai.APIError as exc:
                self.ledger.record_failure()
                raise self._map_api_error(role, exc) from None
            except _MALFORMED as exc:  # langchain choking on a malformed 200 body
                self.ledger.record_failure()
                raise _InvalidReply(
                    f"malformed response from the endpoint: {str(exc)[:200]}", from_model=False
                ) from None
            finally:
                self.in_flight -= 1
                self._reserved -= need
            latency = time.perf_counter() - started
        self.pacer.observe(message.response_metadata.get("headers"), need)
        raw, finish = self._reply_text(message), _finish_reason(message)
        prompt_tokens, completion_tokens = _usage(message, convo, raw)
        if self.cache is not None:
            self.cache.put(key, s.model, CachedReply(raw, prompt_tokens, completion_tokens, finish))
        self.ledger.record(role, round_no, prompt_tokens, completion_tokens, cached=False)
        return _Reply(raw, prompt_tokens, completion_tokens, finish, False, latency)

    def _resources(self) -> tuple[asyncio.Semaphore, ChatOpenAI]:
        """Semaphore and model bound to the running loop (recreated if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._semaphore is None or self._llm is None:
            s = self.settings
            # Our own HTTP client, created in this loop: langchain-openai's default one is
            # cached process-wide and breaks once the loop it was first used in is closed.
            self._http = openai.DefaultAsyncHttpxClient()
            self._llm = ChatOpenAI(
                model=s.model,
                base_url=s.base_url,
                api_key=s.api_key or _NO_KEY,
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                timeout=s.timeout_s,
                max_retries=s.http_retries,
                seed=s.seed,
                http_async_client=self._http,
                use_responses_api=False,
                include_response_headers=True,  # x-ratelimit-* for the pacer
            )
            self._semaphore = asyncio.Semaphore(s.max_concurrency)
            self._loop = loop
        return self._semaphore, self._llm

    def _structured_kwargs(self, schema: type[BaseModel]) -> dict[str, Any]:
        """Request arguments that ask for structured output by the configured method."""
        name = _schema_name(schema)
        json_schema = copy.deepcopy(_json_schema(schema))  # the request may be mutated downstream
        method = self.settings.structured_method
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

    def request_messages(
        self, messages: list[dict[str, str]], schema: type[BaseModel]
    ) -> list[dict[str, str]]:
        """The conversation as sent: a copy of ``messages``; for json_object, the schema is
        described in the system message."""
        for m in messages:
            if m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f"bad message {m!r}: need role system|user|assistant + content")
        convo = [{"role": m["role"], "content": m["content"]} for m in messages]
        if self.settings.structured_method != "json_object":
            return convo
        instruction = (
            "Answer with a single JSON object and nothing else (no markdown, no prose). "
            "It must conform to this JSON schema:\n"
            + json.dumps(_json_schema(schema), ensure_ascii=False, separators=(",", ":"))
        )
        if convo and convo[0]["role"] == "system":  # some chat templates allow one system msg
            convo[0] = {"role": "system", "content": f"{convo[0]['content']}\n\n{instruction}"}
        else:
            convo.insert(0, {"role": "system", "content": instruction})
        return convo

    def _correction(self, raw_text: str, reason: str) -> list[dict[str, str]]:
        """Messages appended after an invalid reply: the reply itself and what was wrong."""
        if self.settings.structured_method == "function_calling":
            how = "Call the function again with corrected arguments."
        else:
            how = "Reply again with only the corrected JSON object, nothing else."
        return [
            {"role": "assistant", "content": raw_text or "(empty reply)"},
            {
                "role": "user",
                "content": f"Your previous reply could not be used: {reason}\n{how}",
            },
        ]

    def _reply_text(self, message: BaseMessage) -> str:
        """The raw reply: the forced tool call's arguments, else the message text."""
        if isinstance(message, AIMessage) and self.settings.structured_method == (
            "function_calling"
        ):
            if message.tool_calls:
                return json.dumps(message.tool_calls[0]["args"], ensure_ascii=False)
            if message.invalid_tool_calls:
                return str(message.invalid_tool_calls[0].get("args") or "")
        text = _content_text(message.content)
        refusal = message.additional_kwargs.get("refusal")
        if not text and refusal:
            return f"(refusal) {refusal}"
        return text

    # -- errors -----------------------------------------------------------------------------

    def _map_api_error(self, role: str, exc: openai.APIError) -> TeacherError:
        """Translate an SDK error (after its own retries) into TeacherUnavailable/LLMReplyError."""
        s = self.settings
        url, retries = s.base_url, s.http_retries
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
            return LLMReplyError(role, self._redact(f"malformed response: {exc}")[:300])
        status, detail = exc.status_code, self._redact(_server_message(exc))
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

    def _redact(self, text: str) -> str:
        """``text`` with the API key masked (in case an endpoint echoes it)."""
        key = self.settings.api_key
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _reservation(self, convo: list[dict[str, str]]) -> int:
        """The most one call of ``convo`` may cost: its prompt (counted generously, at 3
        characters a token) plus ``max_tokens``."""
        prompt = sum(len(m["content"]) for m in convo)
        return -(-prompt // 3) + self.settings.max_tokens

    def _check_budget(self, need: int = 0) -> None:
        """Raise BudgetExhausted when the budget is spent, or when a call costing up to
        ``need`` tokens, on top of what calls in flight have reserved, could cross it."""
        budget = self.settings.budget_tokens
        if budget is None:
            return
        spent = self.ledger.total_tokens
        if spent >= budget or spent + self._reserved + need > budget:
            raise BudgetExhausted(spent, budget)


# -- helpers --------------------------------------------------------------------------------


def _validate(reply: _Reply, schema: type[T], check: Callable[[T], None] | None) -> T:
    """Parse ``reply`` into ``schema`` and run ``check``; raise _InvalidReply with the reason."""
    raw = reply.raw_text
    cut = (
        "the reply was cut off at the token limit (finish_reason=length), keep it shorter; "
        if reply.finish_reason == "length"
        else ""
    )
    if raw.startswith("(refusal) "):
        raise _InvalidReply(f"the model refused: {raw[10:300]}", raw)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        try:
            data = extract_json(raw)
        except ValueError as exc:
            raise _InvalidReply(f"{cut}the reply is not valid JSON ({exc})", raw) from None
    data = _wrap_bare_list(data, schema)
    try:
        value = schema.model_validate(data)
    except ValidationError as exc:
        reason = f"{cut}the JSON does not match the schema: {_describe(exc)}"
        raise _InvalidReply(reason, raw) from None
    if isinstance(data, dict) and schema.model_fields and not _expected_keys(schema) & set(data):
        # a schema whose fields all have defaults turns {} or {"answer": ...} into an empty reply
        reason = (f"{cut}the JSON object has none of the expected keys "
                  f"({', '.join(sorted(_expected_keys(schema)))})")
        raise _InvalidReply(reason, raw)
    if check is not None:
        try:
            check(value)
        except ValueError as exc:
            raise _InvalidReply(str(exc) or type(exc).__name__, raw) from None
    return value


def _wrap_bare_list(data: Any, schema: type[BaseModel]) -> Any:
    """``[...]`` for a schema whose only field is a list becomes ``{field: [...]}``."""
    fields = schema.model_fields
    if isinstance(data, list) and len(fields) == 1:
        name, info = next(iter(fields.items()))
        if get_origin(info.annotation) is list or info.annotation is list:
            return {info.alias or name: data}
    return data


def _expected_keys(schema: type[BaseModel]) -> set[str]:
    """The top-level keys a reply for ``schema`` may use (field names and aliases)."""
    return {key for name, info in schema.model_fields.items() for key in (name, info.alias) if key}


def _describe(exc: ValidationError, limit: int = 8) -> str:
    """A compact, model-readable summary of a pydantic ValidationError."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = repr(err.get("input"))
        got = got if len(got) <= 80 else got[:77] + "..."
        parts.append(f"{loc}: {err['msg']} (got {got})")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more errors" if more > 0 else "")


@functools.lru_cache(maxsize=256)
def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema's JSON schema (computed once per class; treat as read-only)."""
    return schema.model_json_schema()


def _schema_name(schema: type[BaseModel]) -> str:
    """The schema's class name, restricted to what OpenAI accepts as a function name."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", schema.__name__)[:64] or "reply"


def _to_langchain(convo: list[dict[str, str]]) -> list[BaseMessage]:
    return [_ROLES[m["role"]](content=m["content"]) for m in convo]


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


def _finish_reason(message: BaseMessage) -> str | None:
    reason = message.response_metadata.get("finish_reason")
    return str(reason) if reason is not None else None


def _estimate_tokens(text: str) -> int:
    """Rough token count (4 characters a token) for endpoints that report no usage."""
    return max(1, len(text) // 4) if text else 0


def _usage(message: BaseMessage, convo: list[dict[str, str]], raw: str) -> tuple[int, int]:
    usage = getattr(message, "usage_metadata", None)
    if usage:
        return int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return _estimate_tokens("".join(m["content"] for m in convo)), _estimate_tokens(raw)


def _from_completion(
    exc: openai.LengthFinishReasonError | openai.ContentFilterFinishReasonError,
) -> AIMessage:
    """The reply inside a completion the SDK refused to parse (cut off or filtered)."""
    completion = exc.completion
    finish = "length" if isinstance(exc, openai.LengthFinishReasonError) else "content_filter"
    text = ""
    if completion.choices:
        choice = completion.choices[0].message
        text = choice.content or ""
        if not text and choice.tool_calls:
            function = getattr(choice.tool_calls[0], "function", None)
            text = (function.arguments if function is not None else "") or ""
    usage = None
    if completion.usage is not None:
        prompt, output = completion.usage.prompt_tokens, completion.usage.completion_tokens
        usage = {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}
    return AIMessage(
        content=text,
        usage_metadata=usage,
        response_metadata={"finish_reason": finish},
    )


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


def _attempt_event(
    base: dict[str, Any], reply: _Reply, invalid: _InvalidReply | None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "llm_call",
        **base,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "latency_s": round(reply.latency_s, 4),
        "cached": reply.cached,
        "ok": invalid is None,
        "error": None if invalid is None else invalid.reason,
    }
    if invalid is not None:
        event["raw"] = reply.raw_text[:RAW_TRACE_CHARS]
    return event


def _failure_event(base: dict[str, Any], exc: Exception, latency_s: float) -> dict[str, Any]:
    reason = exc.reason if isinstance(exc, _InvalidReply | LLMReplyError) else str(exc)
    return {
        "event": "llm_call",
        **base,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "latency_s": round(latency_s, 4),
        "cached": False,
        "ok": False,
        "error": reason,
        "raw": "",
    }


def _emit(emit: Emit | None, event: dict[str, Any]) -> None:
    if emit is not None:
        emit(event)
