"""The fake OpenAI server fixture itself (fakes/openai_server.py), driven by the openai SDK."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import openai
import pytest

from fakes.openai_server import FakeOpenAI
from fakes.replies import Reply, Script, last_user_text


def sdk(server: FakeOpenAI, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, **kw)


def test_chat_completion_shape_and_usage(fake_openai):
    server = fake_openai(Script(default="four words of reply"))
    client = sdk(server)
    completion = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "four words of reply"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 3 and completion.usage.completion_tokens == 4
    assert server.calls == 1 and server.requests[0]["messages"][1]["content"] == "hi"
    assert [m.id for m in client.models.list()] == ["fake-model"]


def test_script_rules_substring_regex_times_callable_and_default(fake_openai):
    script = (
        Script(default="default")
        .on("once", "first", times=1)
        .on(re.compile(r"\bnum (\d+)"), lambda req: last_user_text(req).upper())
        .on("system-word", "seen in system", where="all")
    )
    server = fake_openai(script)
    client = sdk(server)

    def ask(text: str, system: str = "") -> str:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": text})
        reply = client.chat.completions.create(model="fake-model", messages=messages)
        return reply.choices[0].message.content

    assert ask("once please") == "first"
    assert ask("once please") == "default"
    assert ask("num 42") == "NUM 42"
    assert ask("plain", system="a system-word here") == "seen in system"
    assert ask("plain") == "default"


def test_tool_call_when_request_has_tools(fake_openai):
    server = fake_openai(Script(default='{"x": 1}'))
    tool = {"type": "function", "function": {"name": "Pick", "parameters": {"type": "object"}}}
    completion = sdk(server).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "go"}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "Pick"}},
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "Pick" and json.loads(call.function.arguments) == {"x": 1}
    assert completion.choices[0].finish_reason == "tool_calls"


def test_response_format_returns_content(fake_openai):
    server = fake_openai(Script(default='{"x": 1}'))
    completion = sdk(server).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content) == {"x": 1}


def test_errors_retry_after_and_sdk_retries(fake_openai):
    server = fake_openai(Script(default="ok").on("x", Reply.error(429, retry_after=0.01), times=2))
    completion = sdk(server, max_retries=2).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.content == "ok" and server.calls == 3

    server = fake_openai(Script(default=Reply.error(500, "boom")))
    with pytest.raises(openai.InternalServerError, match="boom"):
        sdk(server, max_retries=0).chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "x"}]
        )


def test_api_key_and_model_checks(fake_openai):
    server = fake_openai(api_key="sk-right", models=["m1"])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0).models.list()
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=server.base_url, api_key="sk-wrong", max_retries=0
        ).chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        sdk(server, max_retries=0).chat.completions.create(
            model="m2", messages=[{"role": "user", "content": "x"}]
        )


def test_latency_and_peak_in_flight_from_async_code(fake_openai):
    server = fake_openai(latency=0.2)

    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="fake-model", messages=[{"role": "user", "content": str(i)}]
                )
                for i in range(5)
            )
        )
        await client.close()

    asyncio.run(main())  # sync code running its own loop, like main.main
    assert server.calls == 5 and server.peak_in_flight == 5 and server.in_flight == 0
    server.reset_stats()
    assert server.calls == 0 and server.requests == [] and server.peak_in_flight == 0


async def test_async_responder_and_use_inside_running_loop(fake_openai):
    async def responder(request: dict) -> str:
        await asyncio.sleep(0.01)
        return "async " + last_user_text(request)

    server = fake_openai(responder)
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
    completion = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hello"}]
    )
    await client.close()
    assert completion.choices[0].message.content == "async hello"


def test_context_manager_and_stop_are_idempotent():
    with FakeOpenAI(Script(default="x")) as server:
        url = server.base_url
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert any(t.name.startswith("fake-openai-") for t in threading.enumerate())
    server.stop()
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=url, api_key="k", max_retries=0).models.list()
