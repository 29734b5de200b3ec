"""An OpenAI-compatible HTTP server (aiohttp) in front of one local ``Engine``.

Routes: ``POST /v1/chat/completions`` (non-streaming), ``GET /v1/models``, ``GET /health``.
Requests are queued: one worker thread runs the engine, so the event loop stays responsive.
An engine that decodes several requests together (``max_batch`` > 1) gets the requests waiting
when it is free, up to ``max_batch`` at a time (after a short wait for requests sent together):
with ``generate_stream`` (continuous batching) a request that arrives while a batch runs takes
the place of a reply that ended, and each reply goes back as soon as it ends; with
``generate_many`` a batch runs to its end. Others answer one after another. Every failure is a
JSON error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from evokd.teacher.local.completion import complete
from evokd.teacher.local.engines import (
    ContextLengthError,
    Engine,
    Generation,
    GenerationCancelled,
    GenerationRequest,
)
from evokd.teacher.local.protocol import RequestError, error_body, parse_chat_request

log = logging.getLogger("evokd.teacher.local")
HOST = "127.0.0.1"
MAX_BODY = 16 * 1024 * 1024
GATHER_S = 0.02  # how long a batching engine waits for requests sent at the same moment


class TeacherServer:
    """Holds the engine, its single worker thread and the request queue."""

    def __init__(self, engine: Engine, model_name: str, info: dict[str, Any] | None = None):
        self.engine = engine
        self.model_name = model_name
        self.info = {"model": model_name, **(info or {}), **engine.describe()}
        self.created = int(time.time())
        self.waiting = 0
        self.served = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="teacher-engine")
        self._pending: list[tuple[GenerationRequest, asyncio.Future[Generation]]] = []
        self._lock = threading.Lock()  # _pending is also taken from by the engine's thread
        self._worker: asyncio.Task[None] | None = None

    async def generate(self, request: GenerationRequest) -> Generation:
        """Run one engine call in the worker thread, after (or with) the calls queued before."""
        future: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._pending.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        self.waiting += 1
        try:
            return await future
        finally:
            self.waiting -= 1

    def _take(self, count: int) -> list[tuple[GenerationRequest, asyncio.Future[Generation]]]:
        """Up to ``count`` waiting requests whose caller still waits, in arrival order."""
        with self._lock:
            taken, self._pending = self._pending[:count], self._pending[count:]
        return [(request, future) for request, future in taken if not future.done()]

    async def _work(self) -> None:
        """Hand the waiting requests to the engine, a batch at a time, until none is left."""
        loop = asyncio.get_running_loop()
        size = max(1, int(getattr(self.engine, "max_batch", 1)))
        while self._pending:
            if size > 1 and len(self._pending) < size:
                await asyncio.sleep(GATHER_S)  # requests sent together arrive a moment apart
            batch = self._take(size)
            if not batch:
                continue
            if size > 1 and hasattr(self.engine, "generate_stream"):
                await self._stream(batch)
                continue
            requests = [request for request, _ in batch]
            try:
                if size == 1:
                    call = functools.partial(self.engine.generate, requests[0])
                    results: list[Any] = [await loop.run_in_executor(self._executor, call)]
                else:  # generate_many takes a lone request too
                    many = functools.partial(self.engine.generate_many, requests)  # type: ignore[attr-defined]
                    results = await loop.run_in_executor(self._executor, many)
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)

    async def _stream(self, batch: list[tuple[GenerationRequest, asyncio.Future[Generation]]]
                      ) -> None:
        """One ``generate_stream`` run: it starts with ``batch``, takes requests that arrive
        while it runs, and each reply is settled as it ends (on the event loop)."""
        loop = asyncio.get_running_loop()
        open_futures = {id(future): future for _, future in batch}

        def more(count: int) -> list[tuple[Any, GenerationRequest]]:
            taken = self._take(count)
            open_futures.update((id(future), future) for _, future in taken)
            return [(future, request) for request, future in taken]

        def deliver(future: asyncio.Future[Generation], result: Any) -> None:
            open_futures.pop(id(future), None)
            loop.call_soon_threadsafe(_settle, future, result)

        run = functools.partial(self.engine.generate_stream,  # type: ignore[attr-defined]
                                [(future, request) for request, future in batch], more, deliver)
        try:
            await loop.run_in_executor(self._executor, run)
        except Exception as exc:  # noqa: BLE001 - handed to every caller not yet answered
            for future in list(open_futures.values()):
                _settle(future, exc)

    async def chat_completions(self, request: web.Request) -> web.Response:
        """``POST /v1/chat/completions``."""
        try:
            body = json.loads(await request.read() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(f"the request body is not valid JSON: {exc}") from exc
        context = int(self.info.get("context", 4096))
        req = parse_chat_request(body, context)
        result = await complete(req, self.generate, self.model_name)
        self.served += 1
        return web.json_response(result)

    async def models(self, request: web.Request) -> web.Response:
        """``GET /v1/models``."""
        return web.json_response({"object": "list", "data": [{
            "id": self.model_name, "object": "model", "created": self.created,
            "owned_by": "evokd-local"}]})

    async def health(self, request: web.Request) -> web.Response:
        """``GET /health``: ok plus model and engine facts (counters as of now)."""
        return web.json_response({"status": "ok", **self.info, **self.engine.describe(),
                                  "queued": self.waiting, "served": self.served})

    def make_app(self) -> web.Application:
        """The aiohttp application with routes and the JSON error middleware."""
        app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/health", self.health)
        return app

    def close(self) -> None:
        """Stop the engine's current generation and the worker thread."""
        self.engine.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for _, future in self._take(len(self._pending)):
            future.cancel()


def _settle(future: asyncio.Future[Generation], result: Any) -> None:
    """Hand a caller its result or error (a caller that gave up is skipped)."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer every error with an OpenAI-style JSON body; never let one escape."""
    try:
        return await handler(request)
    except RequestError as exc:
        return web.json_response(error_body(exc.message, param=exc.param, code=exc.code),
                                 status=exc.status)
    except ContextLengthError as exc:
        return web.json_response(error_body(str(exc), code="context_length_exceeded"), status=400)
    except GenerationCancelled as exc:
        return web.json_response(error_body(str(exc), "server_error"), status=503)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        message = f"{exc.reason}: {request.method} {request.path}"
        return web.json_response(error_body(message, kind), status=exc.status)
    except Exception as exc:  # noqa: BLE001 - the server must survive any engine failure
        log.exception("chat completion failed")
        return web.json_response(error_body(f"internal error: {type(exc).__name__}: {exc}",
                                            "server_error"), status=500)


def bind_socket(port: int = 0, host: str = HOST) -> socket.socket:
    """A listening TCP socket on ``host:port``; a busy requested port falls back to a free one."""
    for candidate in ((port, 0) if port else (0,)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            if candidate == 0:
                raise
            log.warning("port %d is in use; taking a free port", candidate)
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise OSError("could not bind a port")  # pragma: no cover


async def start(server: TeacherServer, port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve ``server`` on 127.0.0.1; returns the runner (``await runner.cleanup()``) and port."""
    sock = bind_socket(port)
    runner = web.AppRunner(server.make_app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])


async def serve_forever(server: TeacherServer, port: int = 0,
                        on_ready: Any = None, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or the task is cancelled); ``on_ready(port)`` once bound."""
    runner, bound = await start(server, port)
    try:
        if on_ready is not None:
            on_ready(bound)
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await runner.cleanup()
