"""A real local HTTP server speaking the OpenAI chat-completions API, for tests.

The server runs in a background thread with its own event loop, so it serves async tests and
synchronous code that calls ``asyncio.run`` itself alike::

    with FakeOpenAI(Script().on("capital", '{"city": "Paris"}'), latency=0.1) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key)

Replies are scripted by request content: the ``responder`` receives the parsed request JSON and
returns a ``str`` (assistant content) or a ``Reply`` (status, headers, tool call, delay, raw body
for fault injection). ``Script`` is a ready-made responder of ordered matching rules.

Usage is deterministic: prompt_tokens = words in all message contents, completion_tokens = words
in the reply (``count_tokens=`` counts another way).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

DEFAULT_MODEL = "fake-model"
DEFAULT_API_KEY = "sk-test-fake-key"


@dataclass
class Reply:
    """A scripted reply.

    Attributes:
        content: assistant content (or the tool call's arguments).
        status: HTTP status; non-200 sends an OpenAI-style error body.
        headers: extra response headers (e.g. ``{"Retry-After": "0.1"}``).
        tool_call: None = a tool call exactly when the request has ``tools``; True/False force.
        finish_reason: None = "stop" (or "tool_calls" for a tool call); "length" simulates a
            reply cut off at max_tokens.
        error_message / error_type / error_code: the error body for non-200 replies.
        delay: extra seconds to wait before answering (on top of the server's latency); a
            large value simulates a hung server.
        raw_body: send exactly these bytes/text as the body (fault injection: truncated or
            non-JSON bodies); ``status``/``headers`` still apply.
        usage: override the computed ``usage`` object (``{}`` sends none).
        drop: close the connection without answering (a dropped connection).
    """

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    tool_call: bool | None = None
    finish_reason: str | None = None
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    delay: float = 0.0
    raw_body: str | bytes | None = None
    usage: dict[str, int] | None = None
    drop: bool = False

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An HTTP error reply, e.g. ``Reply.error(429, retry_after=0.1)``."""
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = f"{retry_after:g}"
        return cls(status=status, headers=hdrs, error_message=message, error_code=code)


ReplyLike = str | Reply
Responder = Callable[[dict[str, Any]], ReplyLike | Awaitable[ReplyLike]]


def last_user_text(request: dict[str, Any]) -> str:
    """Text of the last user message of a chat-completions request ("" if none)."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def all_messages_text(request: dict[str, Any]) -> str:
    """All message contents of a request joined by newlines."""
    return "\n".join(_text(m.get("content")) for m in request.get("messages") or [])


@dataclass
class Rule:
    """One ``Script`` rule: when ``pattern`` matches, answer ``reply``.

    ``pattern``: a substring, or a compiled regex (``re.search``). ``where``: "last_user" (the
    last user message) or "all" (every message's content). ``times``: fire at most this many
    times (None = always). ``reply``: str, Reply, or a callable(request) returning one.
    """

    pattern: str | re.Pattern[str]
    reply: ReplyLike | Callable[[dict[str, Any]], ReplyLike]
    where: Literal["last_user", "all"] = "last_user"
    times: int | None = None
    hits: int = 0

    def matches(self, request: dict[str, Any]) -> bool:
        """Whether this rule applies to ``request`` (ignores ``times``)."""
        text = last_user_text(request) if self.where == "last_user" else all_messages_text(request)
        if isinstance(self.pattern, re.Pattern):
            return self.pattern.search(text) is not None
        return self.pattern in text


class Script:
    """Responder of ordered rules; the first live matching rule answers, else ``default``.

    ``Script(default='{}').on("label", '{"entities": []}').on(re.compile("bad"), Reply.error(500))``
    """

    def __init__(
        self,
        rules: list[Rule] | None = None,
        default: ReplyLike | Callable[[dict[str, Any]], ReplyLike] = "{}",
    ) -> None:
        self.rules: list[Rule] = list(rules or [])
        self.default = default
        self._lock = threading.Lock()

    def on(
        self,
        pattern: str | re.Pattern[str],
        reply: ReplyLike | Callable[[dict[str, Any]], ReplyLike],
        *,
        where: Literal["last_user", "all"] = "last_user",
        times: int | None = None,
    ) -> Script:
        """Append a rule and return self (chainable)."""
        self.rules.append(Rule(pattern, reply, where, times))
        return self

    def __call__(self, request: dict[str, Any]) -> ReplyLike:
        with self._lock:
            chosen = self.default
            for rule in self.rules:
                if (rule.times is None or rule.hits < rule.times) and rule.matches(request):
                    rule.hits += 1
                    chosen = rule.reply
                    break
        return chosen(request) if callable(chosen) else chosen


class FakeOpenAI:
    """OpenAI-compatible server on 127.0.0.1 (free port) in a background thread.

    Stats (readable from any thread): ``calls`` (chat requests received), ``requests`` (their
    JSON bodies), ``in_flight`` and ``peak_in_flight`` (concurrent chat requests being handled).

    Args:
        responder: request JSON -> str | Reply (may be async); default answers "{}".
        latency: seconds each chat request takes (asyncio.sleep, concurrent requests overlap).
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
        models: served model ids (GET /v1/models); when given, other models get 404.
        port: the port to listen on (0 = a free one); lets a test bring a server back on the
            address a run was configured with.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        api_key: str | None = None,
        models: list[str] | None = None,
        port: int = 0,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.responder: Responder = responder or Script()
        self.count_tokens = count_tokens or _words  # usage: words unless told otherwise
        self.latency = latency
        self.api_key = api_key or DEFAULT_API_KEY
        self.check_key = api_key is not None
        self.models = list(models) if models else [DEFAULT_MODEL]
        self.check_model = models is not None
        self.model = self.models[0]
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.port: int | None = None
        self._bind_port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._ids = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (after ``start``)."""
        if self.port is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def reset_stats(self) -> None:
        """Zero ``calls``, ``requests`` and ``peak_in_flight``."""
        with self._stats_lock:
            self.calls = 0
            self.requests = []
            self.peak_in_flight = self.in_flight

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Start serving (returns self); raises if the server cannot start."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._bind_port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site(sock))
            except BaseException as exc:  # report to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name=f"fake-openai-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            self._thread = None
            raise RuntimeError(f"FakeOpenAI failed to start: {failure[0]!r}")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if self._runner is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            with contextlib.suppress(Exception):  # best effort on shutdown
                future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._runner = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start_site(self, sock: socket.socket) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._list_models)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    # -- handlers ----------------------------------------------------------------------------

    def _auth_error(self, request: web.Request) -> web.Response | None:
        """A 401 response when key checking is on and the bearer token is wrong."""
        if self.check_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error_response(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        return None

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth_error(request)) is not None:
            return denied
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        with self._stats_lock:
            self.calls += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            with self._stats_lock:
                self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error_response(400, "request body is not valid JSON", "invalid_request_error")
        with self._stats_lock:
            self.requests.append(body)
            self._ids += 1
            serial = self._ids
        if (denied := self._auth_error(request)) is not None:
            return denied
        if self.check_model and body.get("model") not in self.models:
            return _error_response(
                404,
                f"The model `{body.get('model')}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        if body.get("stream"):
            return _error_response(400, "FakeOpenAI does not stream", "invalid_request_error")
        result = self.responder(body)
        if inspect.isawaitable(result):
            result = await result
        reply = result if isinstance(result, Reply) else Reply(content=str(result))
        wait = self.latency + reply.delay
        if wait > 0:
            await asyncio.sleep(wait)
        if reply.drop and request.transport is not None:
            request.transport.abort()  # the client sees the connection reset, no response
            raise ConnectionResetError("FakeOpenAI dropped the connection on purpose")
        if reply.raw_body is not None:
            return web.Response(
                status=reply.status,
                headers=reply.headers,
                body=reply.raw_body if isinstance(reply.raw_body, bytes) else None,
                text=reply.raw_body if isinstance(reply.raw_body, str) else None,
                content_type="application/json",
            )
        if reply.status != 200:
            return _error_response(
                reply.status,
                reply.error_message or f"fake error {reply.status}",
                reply.error_type or _error_type(reply.status),
                reply.error_code,
                reply.headers,
            )
        return web.json_response(self._completion(body, reply, serial), headers=reply.headers)

    def _completion(self, body: dict[str, Any], reply: Reply, serial: int) -> dict[str, Any]:
        """A chat.completion object answering ``body`` with ``reply``."""
        as_tool = bool(body.get("tools")) if reply.tool_call is None else reply.tool_call
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        finish = reply.finish_reason or "stop"
        if as_tool:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{serial}",
                        "type": "function",
                        "function": {"name": _tool_name(body), "arguments": reply.content},
                    }
                ],
            }
            finish = reply.finish_reason or "tool_calls"
        if reply.usage is not None:
            usage = reply.usage or None
        else:
            prompt = self.count_tokens(all_messages_text(body))
            completion = self.count_tokens(reply.content)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        result: dict[str, Any] = {
            "id": f"chatcmpl-fake-{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "system_fingerprint": "fp_fake",
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
        }
        if usage is not None:
            result["usage"] = usage
        return result


TRANSPORT_FAULTS = ("429", "500", "503", "hang", "drop", "truncated")
CONTENT_FAULTS = ("wrong_keys", "unknown_label", "empty")
FAULT_KINDS = TRANSPORT_FAULTS + CONTENT_FAULTS
BOGUS_LABEL = "NOT_A_LABEL"


class Faulty:
    """Responder wrapper that injects faults at ``rate``, deterministically by ``seed``.

    Transport faults (``TRANSPORT_FAULTS``): 429 with ``Retry-After``, 500, 503 with
    ``Retry-After``, a hang longer than any test timeout (``hang_s``), a dropped connection and
    a 200 whose JSON body is cut in half. Content faults (``CONTENT_FAULTS``): a JSON object with
    none of the expected keys, the real reply with its labels replaced by ``BOGUS_LABEL``
    (entity types, class labels, weak labels; verdict indexes out of range; no texts), and an
    empty reply.

    A request is identified by its *original* conversation: the messages before the first
    assistant message (the client's validate-and-retry loop appends the bad reply and a
    correction). Attempt ``n`` of a conversation faults when a hash of (seed, conversation, n)
    falls below ``rate``, at most ``max_per_request`` times per conversation, so with the
    client's retries (SDK: ``http_retries``; validation: ``validation_retries``, spent by content
    faults and truncated bodies) every request gets its real reply in the end. ``inner`` always
    sees the original conversation, so a retried request gets the reply the first attempt
    would have had.

    ``faults`` counts the injected faults by kind; ``log`` holds ``(kind, conversation, n)``.
    """

    def __init__(
        self,
        inner: Responder,
        rate: float = 0.3,
        *,
        seed: int = 0,
        kinds: tuple[str, ...] | list[str] = FAULT_KINDS,
        max_per_request: int = 2,
        hang_s: float = 30.0,
        retry_after: float = 0.05,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"fault kinds must be among {FAULT_KINDS}, got {sorted(unknown)}")
        self.inner = inner
        self.rate = rate
        self.seed = seed
        self.kinds = tuple(kinds)
        self.max_per_request = max_per_request
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.faults: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self._attempts: Counter[str] = Counter()
        self._faulted: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def original(request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with the messages from the first assistant message on removed."""
        messages = request.get("messages") or []
        cut = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"),
                   len(messages))
        return {**request, "messages": messages[:cut]}

    def _draw(self, conversation: str, n: int) -> tuple[float, int]:
        digest = hashlib.sha256(f"{self.seed}|{conversation}|{n}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big")

    async def __call__(self, request: dict[str, Any]) -> ReplyLike:
        original = self.original(request)
        conversation = hashlib.sha256(
            json.dumps(original.get("messages"), sort_keys=True).encode()
        ).hexdigest()[:16]
        with self._lock:
            n = self._attempts[conversation]
            self._attempts[conversation] += 1
            draw, pick = self._draw(conversation, n)
            kind = None
            if draw < self.rate and self._faulted[conversation] < self.max_per_request:
                kind = self.kinds[pick % len(self.kinds)]
                self._faulted[conversation] += 1
        real = self.inner(original)
        if inspect.isawaitable(real):
            real = await real
        if kind is None:
            return real
        reply = self._fault(kind, real)
        with self._lock:
            self.faults[kind] += 1
            self.log.append((kind, conversation, n))
        return reply

    def _fault(self, kind: str, real: ReplyLike) -> ReplyLike:
        if kind == "429":
            return Reply.error(429, "Rate limit reached (injected)", retry_after=self.retry_after)
        if kind == "500":
            return Reply.error(500, "The server had an error (injected)")
        if kind == "503":
            return Reply.error(503, "Overloaded (injected)", retry_after=self.retry_after)
        if kind == "hang":
            return Reply(content=_content(real), delay=self.hang_s)
        if kind == "drop":
            return Reply(content=_content(real), drop=True)
        if kind == "truncated":
            body = json.dumps({"id": "chatcmpl-cut", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": _content(real)}}]})
            return Reply(raw_body=body[: len(body) // 2])
        if kind == "empty":
            return ""
        if kind == "unknown_label":
            mutated = mislabel(_content(real))
            if mutated is not None:
                return mutated
        return json.dumps({"answer": _content(real)[:200], "note": "wrong keys (injected)"})


def _content(reply: ReplyLike) -> str:
    return reply.content if isinstance(reply, Reply) else str(reply)


def mislabel(content: str) -> str | None:
    """``content`` (a JSON reply) with every label made unknown, or None if it has none.

    Entity ``type``s and class ``label``s become ``BOGUS_LABEL`` (an empty entity list gets one
    bogus entity), ``weak_labels`` become ``[BOGUS_LABEL]``, verdict ``index``es go out of
    range and ``texts`` become empty.
    """
    try:
        value = json.loads(content)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    changed = False
    if isinstance(value.get("label"), str):
        value["label"], changed = BOGUS_LABEL, True
    if isinstance(value.get("entities"), list):
        value["entities"] = [{**e, "type": BOGUS_LABEL} for e in value["entities"]
                             if isinstance(e, dict)] or [{"text": "x", "type": BOGUS_LABEL}]
        changed = True
    if isinstance(value.get("weak_labels"), list):
        value["weak_labels"], changed = [BOGUS_LABEL], True
    if isinstance(value.get("verdicts"), list):
        value["verdicts"] = [{**v, "index": 10_000 + i} for i, v in enumerate(value["verdicts"])
                             if isinstance(v, dict)]
        changed = True
    if isinstance(value.get("texts"), list):
        value["texts"], changed = [], True
    return json.dumps(value) if changed else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _tool_name(body: dict[str, Any]) -> str:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name", "tool"))
    tools = body.get("tools") or [{}]
    return str(tools[0].get("function", {}).get("name", "tool"))


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    if status == 401:
        return "authentication_error"
    return "invalid_request_error"


def _error_response(
    status: int,
    message: str,
    error_type: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )
