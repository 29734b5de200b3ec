"""One client for any OpenAI-compatible chat endpoint (langchain-openai ``ChatOpenAI``).

Layers, one per failure kind:

- HTTP: the openai SDK retries 408/409/429/5xx and connection errors itself (``max_retries``,
  honours ``Retry-After``); nothing here retries them again (``teacher.transport``; its errors
  are mapped by ``teacher.errors.map_api_error``).
- Content: a tenacity loop re-asks when the reply is not valid JSON, does not match the schema
  or fails the caller's ``check`` (``teacher.validation``), feeding the error back to the model
  (``teacher.conversation``).
- Concurrency: one ``asyncio.Semaphore(max_concurrency)`` shared by every role and call.
- Pacing: ``rpm`` / ``tpm`` limits and the server's rate-limit headers (``teacher.pacing``).
- Budget: each call reserves its prompt + ``max_tokens`` before it is sent, a hard cap
  (``teacher.budget``).
- Cache: every raw reply is stored, so a rerun replays the same replies with no server calls.

Every attempt is traced as one ``llm_call`` event (``teacher.events``).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import openai
from langchain_core.messages import BaseMessage
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from evokd.core.trace import LlmCall
from evokd.teacher import conversation, replies, transport
from evokd.teacher.bounded_http import reply_char_limit
from evokd.teacher.budget import TokenBudget
from evokd.teacher.cache import CachedReply, ResponseCache, cache_key
from evokd.teacher.errors import BudgetExhausted, LLMReplyError, TeacherError, map_api_error, redact
from evokd.teacher.events import Emit, attempt_event, emit_event, failure_event
from evokd.teacher.ledger import TokenLedger
from evokd.teacher.pacing import Pacer
from evokd.teacher.settings import TeacherSettings
from evokd.teacher.validation import InvalidReply, Reply, validate

T = TypeVar("T", bound=BaseModel)

__all__ = ["Emit", "TeacherClient", "call_seed"]


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
        budget: the hard token budget (spent plus reserved by calls in flight).
        in_flight: requests being sent right now (for progress displays).
        record: when set, receives every ``llm_call`` event before the reply reaches its
            caller (the run's trace: a call whose result a checkpoint holds is on disk).
    """

    def __init__(self, settings: TeacherSettings, cache: ResponseCache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.ledger = TokenLedger()
        self.budget = TokenBudget(settings, self.ledger)
        self.pacer = Pacer(settings.rpm, settings.tpm, window_s=settings.rate_window_s,
                           concurrency=settings.max_concurrency, max_pause_s=settings.max_pause_s)
        self.in_flight = 0
        self.record: Emit | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._models: transport.ModelPool | None = None

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
        max_tokens: int | None = None,
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
            max_tokens: a lower completion cap than ``settings.max_tokens`` for this call (a
                reply of known size: a degenerate, repeating one is cut off early).

        Raises:
            LLMReplyError: no valid reply after ``validation_retries`` extra attempts, or the
                endpoint failed this request (429/5xx after the SDK's retries, 400).
            TeacherUnavailable: the endpoint cannot be used (key, model, connection, timeout).
            BudgetExhausted: ``budget_tokens`` was reached, or this call (its prompt and
                ``max_tokens``, reserved before it is sent) could cross it.
        """
        self.budget.check()
        convo = self.request_messages(messages, schema)
        method = self.settings.structured_method
        attempt_no = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.validation_retries + 1),
            retry=retry_if_exception_type(InvalidReply),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_no += 1
                    event = (role, round_no, attempt_no)
                    started = time.perf_counter()
                    try:
                        reply = await self._fetch(
                            role, round_no, convo, schema, temperature, call_key, max_tokens
                        )
                    except BudgetExhausted:
                        raise
                    except (TeacherError, InvalidReply) as exc:
                        self._report(emit, failure_event(event, exc, time.perf_counter() - started))
                        raise
                    try:
                        value = validate(reply, schema, check)
                    except InvalidReply as exc:
                        self._report(emit, attempt_event(event, reply, exc))
                        convo = [*convo, *conversation.correction(reply.raw_text, exc.reason,
                                                                  method)]
                        raise
                    self._report(emit, attempt_event(event, reply, None))
                    return value
        except InvalidReply as exc:
            raise LLMReplyError(
                role, redact(exc.reason, self.settings.api_key), exc.raw_text
            ) from None
        raise AssertionError("unreachable: the retry loop either returns or raises")

    def _report(self, emit: Emit | None, event: LlmCall) -> None:
        """Hand an ``llm_call`` event to ``record`` (first) and to the caller's ``emit``."""
        emit_event(self.record, event)
        emit_event(emit, event)

    def request_messages(
        self, messages: list[dict[str, str]], schema: type[BaseModel]
    ) -> list[dict[str, str]]:
        """The conversation as sent: a copy of ``messages``; for json_object, the schema is
        described in the system message."""
        return conversation.request_messages(messages, schema, self.settings.structured_method)

    async def aclose(self) -> None:
        """Close the HTTP connections (the cache is the caller's to close).

        Call it from the loop that made the requests; connections opened in an event loop
        that has since ended are just dropped (they died with that loop).
        """
        models, loop = self._models, self._loop
        self._models = self._loop = self._semaphore = None
        if models is not None and loop is asyncio.get_running_loop():
            await models.aclose()

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
        max_tokens: int | None = None,
    ) -> Reply:
        """One reply for ``convo``: from the cache, else from the server (then cached)."""
        s = self.settings
        temp = s.temperature if temperature is None else temperature
        seed = call_seed(s.seed, call_key)
        cap = s.max_tokens if max_tokens is None else max(1, min(max_tokens, s.max_tokens))
        params = {
            "temperature": temp,
            "max_tokens": cap,
            "seed": seed,
            "method": s.structured_method,
            "call_key": call_key,
        }
        key = cache_key(s.model, convo, params, transport.json_schema_of(schema), s.endpoint_name)
        need = self.budget.reservation(convo)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.budget.check(need)  # the same decision a server call would get
            self.ledger.record(
                role, round_no, hit.prompt_tokens, hit.completion_tokens, cached=True
            )
            return Reply(
                hit.raw_text, hit.prompt_tokens, hit.completion_tokens, hit.finish_reason, True, 0.0
            )
        semaphore = self._semaphore_now()
        kwargs = {**transport.structured_kwargs(schema, s.structured_method), "temperature": temp}
        if cap != s.max_tokens:
            kwargs["max_tokens"] = cap
        if seed is not None:
            kwargs["seed"] = seed
        async with semaphore:
            if self.pacer.active:
                await self.pacer.acquire(need)
            self.budget.check(need)  # queued asks stop here once the budget is spent meanwhile
            with self.budget.hold(need):
                self.in_flight += 1
                started = time.perf_counter()
                try:
                    message = await self.complete(role, convo, schema, kwargs)
                except (openai.LengthFinishReasonError,
                        openai.ContentFilterFinishReasonError) as exc:
                    message = replies.from_completion(exc)  # the SDK refused a cut-off reply
                except openai.APIError as exc:
                    self.ledger.record_failure()
                    raise map_api_error(exc, s, role) from None
                except transport.MALFORMED as exc:  # langchain choking on a malformed 200 body
                    self.ledger.record_failure()
                    raise InvalidReply(
                        f"malformed response from the endpoint: {str(exc)[:200]}",
                        from_model=False,
                    ) from None
                finally:
                    self.in_flight -= 1
            latency = time.perf_counter() - started
        capped = self.pacer.observe(message.response_metadata.get("headers"), need)
        if capped is not None:
            emit_event(self.record, capped)
        raw = redact(replies.reply_text(message, s.structured_method), s.api_key)
        finish = replies.finish_reason(message)
        prompt_tokens, completion_tokens = replies.usage(message, convo, raw)
        self.ledger.record(role, round_no, prompt_tokens, completion_tokens, cached=False)
        if len(raw) > reply_char_limit(cap):  # the endpoint ignored max_tokens: not cached
            raise InvalidReply(f"the reply has {len(raw)} characters, more than {cap} tokens "
                               "can hold; refused", from_model=False)
        if self.cache is not None:
            self.cache.put(key, s.model, CachedReply(raw, prompt_tokens, completion_tokens, finish))
        return Reply(raw, prompt_tokens, completion_tokens, finish, False, latency)

    async def complete(
        self, role: str, convo: list[dict[str, str]], schema: type[BaseModel],
        kwargs: dict[str, Any],
    ) -> BaseMessage:
        """Send one chat request (``convo`` with the request arguments ``kwargs``: structured
        output for ``schema``, temperature, seed, max_tokens) and return the reply message.
        The only place a request leaves the process; a subclass may answer otherwise (the dry
        run's recording teacher)."""
        if self._models is None:  # dropped by _semaphore_now when the loop changed
            self._models = transport.ModelPool(self.settings)
        with self._models.model() as llm:
            return await llm.ainvoke(transport.to_langchain(convo), **kwargs)

    def _semaphore_now(self) -> asyncio.Semaphore:
        """The semaphore of the running loop (it and the model pool are recreated, the pool
        when first needed, if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._semaphore is None:
            self._models = None
            self._semaphore = asyncio.Semaphore(self.settings.max_concurrency)
            self._loop = loop
        return self._semaphore
