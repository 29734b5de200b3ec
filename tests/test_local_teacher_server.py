"""The local teacher's HTTP server with a scripted in-test engine (no model needed)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from evokd.teacher.local.engines import ContextLengthError, Generation, GenerationRequest
from evokd.teacher.local.server import TeacherServer, bind_socket, start


class ScriptedEngine:
    """Replies from a script (then echoes); records calls and how many ran at once."""

    name = "scripted"
    constrained = False

    def __init__(self, replies: list[str | Exception] | None = None, delay: float = 0.0):
        self.replies = list(replies or [])
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self._guard = threading.Lock()

    def generate(self, request: GenerationRequest) -> Generation:
        messages, max_tokens = request.messages, request.max_tokens
        with self._guard:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay)
            self.calls.append(request._asdict())
            reply = self.replies.pop(0) if self.replies else "echo " + messages[-1]["content"]
            if isinstance(reply, Exception):
                raise reply
            words = reply.split(" ")
            text = " ".join(words[:max_tokens])
            prompt = sum(len(m["content"].split()) for m in messages)
            return Generation(text, prompt, min(len(words), max_tokens))
        finally:
            with self._guard:
                self.active -= 1

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "context": 512}

    def close(self) -> None:
        pass


class Served:
    def __init__(self, engine: ScriptedEngine, base: str, session: aiohttp.ClientSession):
        self.engine, self.base, self.session = engine, base, session

    async def post(self, body: Any, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        async with self.session.post(f"{self.base}/v1/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json()

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.base + path) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners = []
    sessions = []

    async def _serve(replies: list[str | Exception] | None = None, delay: float = 0.0) -> Served:
        engine = ScriptedEngine(replies, delay)
        runner, port = await start(TeacherServer(engine, "scripted-model"), 0)
        runners.append(runner)
        sessions.append(aiohttp.ClientSession())
        return Served(engine, f"http://127.0.0.1:{port}", sessions[-1])

    yield _serve
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()


def chat(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "x", "messages": [{"role": "user", "content": text}], **extra}


async def test_plain_reply_with_usage_and_params(serve):
    srv = await serve(["Bonjour tout le monde"])
    status, body = await srv.post(chat("say hello", max_tokens=10, temperature=0, seed=7,
                                       stop=["END"]))
    assert status == 200
    message = body["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Bonjour tout le monde", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    call = srv.engine.calls[0]
    assert (call["max_tokens"], call["temperature"], call["seed"], call["stop"]) == (
        10, 0.0, 7, ["END"])
    assert call["json_schema"] is None


async def test_max_completion_tokens_and_length_finish(serve):
    srv = await serve(["one two three four five"])
    status, body = await srv.post(chat(max_completion_tokens=3))
    assert status == 200
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


async def test_system_messages_merged_and_parts_joined(serve):
    srv = await serve()
    body = {"messages": [{"role": "system", "content": "A"}, {"role": "developer", "content": "B"},
                         {"role": "user", "content": [{"type": "text", "text": "x"},
                                                      {"type": "text", "text": "y"}]}]}
    status, _ = await srv.post(body)
    assert status == 200
    assert srv.engine.calls[0]["messages"] == [{"role": "system", "content": "A\n\nB"},
                                               {"role": "user", "content": "x\ny"}]


@pytest.mark.parametrize(
    ("body", "raw", "needle"),
    [
        (chat(stream=True), None, "stream"),
        (None, b"{not json", "not valid JSON"),
        ([1, 2], None, "JSON object"),
        ({"model": "x"}, None, "messages"),
        ({"messages": []}, None, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, None, "role"),
        (chat(temperature=5), None, "temperature"),
        (chat(max_tokens=0), None, "max_tokens"),
        (chat(n=2), None, "n=1"),
        (chat(stop=[1]), None, "stop"),
        (chat(response_format={"type": "xml"}), None, "response_format"),
        (chat(response_format={"type": "json_schema"}), None, "schema"),
        (chat(tools=[{"type": "function"}]), None, "tools"),
    ],
)
async def test_bad_requests_get_clear_400(serve, body, raw, needle):
    srv = await serve()
    status, reply = await srv.post(body, raw)
    assert status == 400
    assert reply["error"]["type"] == "invalid_request_error"
    assert needle in reply["error"]["message"]
    assert srv.engine.calls == []


async def test_unknown_route_and_method_are_json(serve):
    srv = await serve()
    status, body = await srv.get("/v1/nothing")
    assert status == 404 and "error" in body
    status, body = await srv.get("/v1/chat/completions")
    assert status == 405 and "error" in body


async def test_models_and_health(serve):
    srv = await serve()
    status, models = await srv.get("/v1/models")
    assert status == 200 and models["data"][0]["id"] == "scripted-model"
    status, health = await srv.get("/health")
    assert status == 200
    assert health["status"] == "ok" and health["model"] == "scripted-model"
    assert health["engine"] == "scripted"


async def test_json_object_reply_is_repaired(serve):
    srv = await serve(['Sure! ```json\n{"city": "Paris", "tags": ["a", "b",],}\n``` Done.'])
    status, body = await srv.post(chat(response_format={"type": "json_object"}))
    assert status == 200
    assert json.loads(body["choices"][0]["message"]["content"]) == {
        "city": "Paris", "tags": ["a", "b"]}
    call = srv.engine.calls[0]
    assert call["json_schema"] == {}
    assert "JSON object only" in call["messages"][0]["content"]


async def test_json_schema_retries_once_with_the_error(serve):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    srv = await serve(["no json here", '{"n": 3}'])
    fmt = {"type": "json_schema", "json_schema": {"name": "N", "schema": schema}}
    status, body = await srv.post(chat("count", response_format=fmt))
    assert status == 200
    assert json.loads(body["choices"][0]["message"]["content"]) == {"n": 3}
    assert body["evokd"] == {"attempts": 2, "json_valid": True}
    first, second = srv.engine.calls
    assert first["json_schema"] == schema
    assert second["messages"][-2] == {"role": "assistant", "content": "no json here"}
    assert "not usable" in second["messages"][-1]["content"]
    assert body["usage"]["completion_tokens"] == 3 + 2  # both attempts are counted


async def test_json_that_stays_invalid_is_returned_raw(serve):
    srv = await serve(["nope", "still nope"])
    status, body = await srv.post(chat(response_format={"type": "json_object"}))
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "still nope"
    assert body["evokd"] == {"attempts": 2, "json_valid": False}


async def test_json_cut_off_at_max_tokens_is_not_retried(serve):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "N", "schema": schema}}
    srv = await serve(['{"n": [1, 1, 1, 1, 1, 1', '{"n": 3}'])
    status, body = await srv.post(chat(response_format=fmt, max_tokens=6))
    assert status == 200 and len(srv.engine.calls) == 1  # a retry would be cut off as well
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["evokd"] == {"attempts": 1, "json_valid": False}


class City(BaseModel):
    """A city and its country."""

    city: str
    country: str


async def test_langchain_function_calling_structured_output(serve):
    srv = await serve(['{"city": "Paris", "country": "France"}'])
    llm = ChatOpenAI(base_url=srv.base + "/v1", api_key="unused", model="x", max_retries=0)
    result = await llm.with_structured_output(City, method="function_calling").ainvoke("Paris?")
    assert result == City(city="Paris", country="France")
    call = srv.engine.calls[0]
    assert call["json_schema"]["required"] == ["city", "country"]
    assert "Call the function 'City'" in call["messages"][0]["content"]


async def test_tool_call_wrapper_is_unwrapped(serve):
    srv = await serve(['{"name": "City", "arguments": {"city": "Rome", "country": "Italy"}}'])
    llm = ChatOpenAI(base_url=srv.base + "/v1", api_key="unused", model="x", max_retries=0)
    msg = await llm.bind_tools([City], tool_choice="City").ainvoke("Rome?")
    assert msg.tool_calls[0]["name"] == "City"
    assert msg.tool_calls[0]["args"] == {"city": "Rome", "country": "Italy"}
    assert msg.response_metadata["finish_reason"] == "tool_calls"
    assert msg.usage_metadata["total_tokens"] > 0


async def test_tool_choice_required_picks_among_tools(serve):
    tools = [{"type": "function", "function": {"name": n, "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
        for n in ("search", "lookup")]
    srv = await serve(['{"name": "lookup", "arguments": {"q": "x"}}'])
    status, body = await srv.post(chat(tools=tools, tool_choice="required"))
    assert status == 200
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}


async def test_tool_choice_auto_may_answer_in_text(serve):
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    srv = await serve(["It is sunny.", '{"name": "weather", "arguments": {}}'])
    status, body = await srv.post(chat(tools=tools))
    assert body["choices"][0]["message"]["content"] == "It is sunny."
    assert "tool_calls" not in body["choices"][0]["message"]
    status, body = await srv.post(chat(tools=tools, tool_choice="auto"))
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "weather"
    assert body["choices"][0]["finish_reason"] == "tool_calls"


async def test_engine_errors_are_json_and_server_survives(serve):
    srv = await serve([RuntimeError("boom"), ContextLengthError("too long"), "fine"])
    status, body = await srv.post(chat())
    assert status == 500 and body["error"]["type"] == "server_error"
    assert "boom" in body["error"]["message"]
    status, body = await srv.post(chat())
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    status, body = await srv.post(chat())
    assert status == 200 and body["choices"][0]["message"]["content"] == "fine"


async def test_concurrent_requests_are_queued_and_health_stays_responsive(serve):
    srv = await serve(delay=0.3)
    tasks = [asyncio.create_task(srv.post(chat(f"m{i}"))) for i in range(3)]
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    status, health = await srv.get("/health")
    assert status == 200 and time.perf_counter() - started < 0.25
    assert health["queued"] >= 1
    results = await asyncio.gather(*tasks)
    assert [r[0] for r in results] == [200, 200, 200]
    assert sorted(r[1]["choices"][0]["message"]["content"] for r in results) == [
        "echo m0", "echo m1", "echo m2"]
    assert srv.engine.max_active == 1


def test_busy_port_falls_back_to_a_free_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        sock = bind_socket(taken)
        try:
            assert sock.getsockname()[1] != taken
        finally:
            sock.close()
    sock = bind_socket(0)
    assert sock.getsockname()[0] == "127.0.0.1"
    sock.close()
