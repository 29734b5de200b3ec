"""A real local HTTP server speaking the OpenAI chat-completions API, for tests.

The server runs in a background thread with its own event loop, so it serves async tests and
synchronous code that calls ``asyncio.run`` itself alike::

    with FakeOpenAI(Script().on("capital", '{"city": "Paris"}'), latency=0.1) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key)

Replies are scripted by request content: the ``responder`` receives the parsed request JSON and
returns a ``str`` (assistant content) or a ``Reply`` (status, headers, tool call, delay, raw body
for fault injection). ``Script`` is a ready-made responder of ordered matching rules; both live
in fakes/replies.py, and fakes/faults.py wraps a responder to inject faults.

Usage is deterministic: prompt_tokens = words in all message contents, completion_tokens = words
in the reply (``count_tokens=`` counts another way).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from fakes.replies import Reply, Responder, Script, all_messages_text

DEFAULT_MODEL = "fake-model"
DEFAULT_API_KEY = "sk-test-fake-key"


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
        if reply.trickle > 0:
            return await _trickle(request, self._completion(body, reply, serial), reply)
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


async def _trickle(request: web.Request, completion: dict[str, Any],
                   reply: Reply) -> web.StreamResponse:
    """Send ``completion`` one byte every ``reply.trickle`` seconds."""
    data = json.dumps(completion).encode()
    response = web.StreamResponse(headers={**reply.headers, "Content-Type": "application/json",
                                           "Content-Length": str(len(data))})
    await response.prepare(request)
    for index in range(len(data)):
        await response.write(data[index:index + 1])
        await asyncio.sleep(reply.trickle)
    await response.write_eof()
    return response


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
