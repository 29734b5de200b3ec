"""TeacherClient and endpoint errors: only the SDK retries HTTP failures, and what cannot work
(key, model, connection, timeout, quota, structured output method) is one TeacherUnavailable."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from evokd.teacher import LLMReplyError, TeacherClient, TeacherUnavailable
from fakes.openai_server import FakeOpenAI
from fakes.replies import Reply, Script
from tests.test_teacher_client import GOOD, QUESTION, City


async def test_429_with_retry_after_is_retried_once_by_the_sdk_only(fake_openai, teacher_settings):
    server = fake_openai(
        Script(default=GOOD).on("capital", Reply.error(429, "slow down", retry_after=0.05), times=1)
    )
    client = TeacherClient(teacher_settings(server, http_retries=3, validation_retries=2))
    events: list[dict[str, Any]] = []
    city = await client.ask("analyst", QUESTION, City, round_no=1, emit=events.append)
    await client.aclose()
    assert city.name == "Paris"
    assert server.calls == 2  # one 429 + one success: no second retry layer
    assert client.ledger.calls == 1 and client.ledger.failed_calls == 0
    assert [e["ok"] for e in events] == [True]


async def test_persistent_5xx_becomes_llm_reply_error_after_sdk_retries(
    fake_openai, teacher_settings
):
    server = fake_openai(Script(default=Reply.error(503, "overloaded", retry_after=0.01)))
    client = TeacherClient(teacher_settings(server, http_retries=2, validation_retries=3))
    events: list[dict[str, Any]] = []
    with pytest.raises(LLMReplyError, match="503") as info:
        await client.ask("generator", QUESTION, City, round_no=1, emit=events.append)
    await client.aclose()
    assert type(info.value) is LLMReplyError
    assert server.calls == 3  # 1 + http_retries; the validation loop does not retry HTTP errors
    assert client.ledger.failed_calls == 1
    assert len(events) == 1 and events[0]["ok"] is False and "503" in events[0]["error"]


async def test_401_is_teacher_unavailable_fast_without_the_key(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD), api_key="sk-the-right-key")
    secret = "sk-wrong-secret-123456"
    client = TeacherClient(teacher_settings(server, api_key=secret, http_retries=3))
    events: list[dict[str, Any]] = []
    started = time.perf_counter()
    with pytest.raises(TeacherUnavailable) as info:
        await client.ask("analyst", QUESTION, City, round_no=1, emit=events.append)
    await client.aclose()
    message = str(info.value)
    assert time.perf_counter() - started < 2.0
    assert server.calls == 1
    assert "401" in message and "OPENAI_API_KEY" in message and server.base_url in message
    assert "\n" not in message and secret not in message
    assert secret not in json.dumps(events)


async def test_unknown_model_is_teacher_unavailable(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD), models=["real-model"])
    client = TeacherClient(teacher_settings(server, model="no-such-model"))
    with pytest.raises(TeacherUnavailable, match="no-such-model"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert server.calls == 1


async def test_unsupported_structured_method_is_teacher_unavailable(fake_openai, teacher_settings):
    bad_request = Reply.error(400, "response_format json_schema is not supported by this model")
    server = fake_openai(Script(default=bad_request))
    client = TeacherClient(teacher_settings(server, structured_method="json_schema"))
    with pytest.raises(TeacherUnavailable, match="json_object"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()


async def test_connection_refused_is_teacher_unavailable(teacher_settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = FakeOpenAI()
    dead.port = port
    client = TeacherClient(teacher_settings(dead, http_retries=0))
    with pytest.raises(TeacherUnavailable, match="cannot connect"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()


async def test_timeout_is_teacher_unavailable(fake_openai, teacher_settings):
    server = fake_openai(Script(default=Reply(GOOD, delay=3.0)))
    client = TeacherClient(teacher_settings(server, timeout_s=0.3, http_retries=0))
    with pytest.raises(TeacherUnavailable, match="did not answer"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()


async def test_quota_exhausted_429_is_teacher_unavailable(fake_openai, teacher_settings):
    quota = Reply.error(429, "You exceeded your current quota", code="insufficient_quota")
    quota.headers["x-should-retry"] = "false"  # as OpenAI sends it
    server = fake_openai(Script(default=quota))
    client = TeacherClient(teacher_settings(server))
    with pytest.raises(TeacherUnavailable, match="quota"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert server.calls == 1
