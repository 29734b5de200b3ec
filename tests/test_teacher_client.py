"""TeacherClient against the fake OpenAI server: structured output, retries, concurrency."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import socket
import time
from typing import Any

import pytest
from pydantic import BaseModel

from fakes.openai_server import FakeOpenAI
from fakes.replies import Reply, Script
from teacher import (
    BudgetExhausted,
    LLMReplyError,
    ResponseCache,
    TeacherClient,
    TeacherUnavailable,
)
from teacher.client import call_seed

GOOD = '{"name": "Paris", "country": "France"}'
QUESTION = [
    {"role": "system", "content": "You know geography."},
    {"role": "user", "content": "What is the capital of France?"},
]


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


class Entity(BaseModel):
    text: str
    type: str


class Entities(BaseModel):
    entities: list[Entity]


def request_text(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"], ensure_ascii=False)


@pytest.mark.parametrize("method", ["json_object", "json_schema", "function_calling"])
async def test_structured_reply_parses_for_each_method(fake_openai, teacher_settings, method):
    server = fake_openai(Script(default=GOOD))
    client = TeacherClient(teacher_settings(server, structured_method=method))
    city = await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()

    assert city == City(name="Paris", country="France")
    sent = server.requests[0]
    if method == "json_object":
        assert sent["response_format"] == {"type": "json_object"}
        assert '"country"' in sent["messages"][0]["content"]  # schema described in system msg
        assert sent["messages"][0]["content"].startswith("You know geography.")
        assert len([m for m in sent["messages"] if m["role"] == "system"]) == 1
    elif method == "json_schema":
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["schema"]["required"] == ["name", "country"]
    else:
        assert sent["tools"][0]["function"]["name"] == "City"
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "City"}}
    assert client.ledger.calls == 1 and client.ledger.total_tokens > 0


async def test_request_parameters_seed_and_temperature_override(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD))
    client = TeacherClient(teacher_settings(server, seed=7, max_tokens=99, temperature=0.3))
    await client.ask("analyst", QUESTION, City, round_no=1)
    await client.ask("analyst", QUESTION, City, round_no=1, temperature=0.0)
    await client.aclose()
    first, second = server.requests
    assert first["seed"] == 7 and first["temperature"] == 0.3
    assert first.get("max_completion_tokens", first.get("max_tokens")) == 99
    assert second["temperature"] == 0.0


async def test_each_call_key_samples_with_its_own_seed(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD))
    client = TeacherClient(teacher_settings(server, seed=7))
    for key in ("round=1 call=0", "round=2 call=0", "round=1 call=0"):
        await client.ask("generator", QUESTION, City, round_no=1, call_key=key)
    await client.aclose()
    seeds = [r["seed"] for r in server.requests]
    assert seeds[0] == seeds[2] == call_seed(7, "round=1 call=0") and seeds[1] != seeds[0]
    assert call_seed(None, "round=1 call=0") is None and call_seed(7, "") == 7


async def test_concurrency_is_bounded_by_one_shared_semaphore(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD), latency=0.2)
    client = TeacherClient(teacher_settings(server, max_concurrency=4))
    roles = ["analyst", "generator", "labeler"]
    started = time.perf_counter()
    results = await asyncio.gather(
        *(client.ask(roles[i % 3], QUESTION, City, round_no=1, call_key=str(i)) for i in range(12))
    )
    elapsed = time.perf_counter() - started
    await client.aclose()
    assert len(results) == 12
    assert server.calls == 12
    assert server.peak_in_flight == 4
    assert elapsed >= 0.55  # 12 calls / 4 at a time * 0.2 s
    assert client.in_flight == 0


async def test_in_flight_counter_visible_during_calls(fake_openai, teacher_settings):
    seen: list[int] = []
    holder: dict[str, TeacherClient] = {}

    def responder(request: dict[str, Any]) -> str:
        seen.append(holder["client"].in_flight)
        return GOOD

    server = fake_openai(responder, latency=0.1)
    client = holder["client"] = TeacherClient(teacher_settings(server, max_concurrency=3))
    await asyncio.gather(
        *(client.ask("labeler", QUESTION, City, round_no=1, call_key=str(i)) for i in range(6))
    )
    await client.aclose()
    assert max(seen) <= 3 and max(seen) >= 1
    assert client.in_flight == 0


@pytest.mark.parametrize(
    ("bad", "error_text"),
    [
        ("The capital is Paris.", "not valid JSON"),
        ('{"city": "Paris"}', "country: Field required"),
        ('{"name": "Paris", "country": 3}', "country: Input should be a valid string"),
    ],
)
async def test_malformed_reply_is_retried_with_the_error(
    fake_openai, teacher_settings, bad, error_text
):
    server = fake_openai(Script(default=GOOD).on("capital", bad, times=1))
    client = TeacherClient(teacher_settings(server))
    events: list[dict[str, Any]] = []
    city = await client.ask("analyst", QUESTION, City, round_no=2, emit=events.append)
    await client.aclose()

    assert city.name == "Paris"
    assert server.calls == 2
    retry_messages = server.requests[1]["messages"]
    assert retry_messages[: len(server.requests[0]["messages"])] == server.requests[0]["messages"]
    assert retry_messages[-2] == {"role": "assistant", "content": bad}
    assert retry_messages[-1]["role"] == "user" and error_text in retry_messages[-1]["content"]
    assert [e["ok"] for e in events] == [False, True]
    assert error_text in events[0]["error"] and events[0]["raw"] == bad
    assert "raw" not in events[1]
    assert {e["attempt"] for e in events} == {1, 2}
    assert all(e["event"] == "llm_call" and e["round"] == 2 for e in events)


async def test_failing_check_is_retried_with_its_message(fake_openai, teacher_settings):
    sentence = "Paris is lovely."
    bad = '{"entities": [{"text": "Berlin", "type": "LOC"}]}'
    good = '{"entities": [{"text": "Paris", "type": "LOC"}]}'
    server = fake_openai(Script(default=good).on("Label", bad, times=1))

    def check(value: Entities) -> None:
        for entity in value.entities:
            if entity.text not in sentence:
                raise ValueError(f"entity '{entity.text}' does not occur in the sentence")

    client = TeacherClient(teacher_settings(server, structured_method="function_calling"))
    messages = [{"role": "user", "content": f"Label: {sentence}"}]
    result = await client.ask("labeler", messages, Entities, round_no=1, check=check)
    await client.aclose()
    assert result.entities[0].text == "Paris"
    assert "entity 'Berlin' does not occur in the sentence" in request_text(server.requests[1])


@pytest.mark.parametrize(
    "bad",
    [
        "no json at all",
        "",
        '{"name": "Paris"}',
        "[1, 2, 3]",
        Reply(content='{"name": "Par', finish_reason="length"),
        Reply(content='{"name": ', tool_call=True),
        Reply(raw_body='{"id": "chatcmpl-1", "choices": [{"mess'),
    ],
    ids=["prose", "empty", "missing-key", "array", "truncated", "bad-tool-args", "broken-body"],
)
async def test_every_attempt_bad_raises_llm_reply_error(fake_openai, teacher_settings, bad):
    server = fake_openai(Script(default=bad))
    client = TeacherClient(teacher_settings(server, validation_retries=2))
    events: list[dict[str, Any]] = []
    with pytest.raises(LLMReplyError) as info:
        await client.ask("critic", QUESTION, City, round_no=1, emit=events.append)
    await client.aclose()
    assert type(info.value) is LLMReplyError
    assert info.value.role == "critic" and info.value.reason
    assert server.calls == 3
    assert len(events) == 3 and not any(e["ok"] for e in events)
    if isinstance(bad, str):
        assert info.value.raw_text == bad


async def test_truncated_reply_reports_cut_off(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD).on("capital", Reply('{"na', finish_reason="length")))
    client = TeacherClient(teacher_settings(server, validation_retries=0))
    with pytest.raises(LLMReplyError, match="cut off"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert client.ledger.completion_tokens > 0  # a truncated reply still costs tokens


async def test_lenient_extraction_accepts_fenced_json_with_prose(fake_openai, teacher_settings):
    reply = "Sure! Here it is:\n```json\n{'name': 'Paris', \"country\": \"France\",}\n```\nBye."
    server = fake_openai(Script(default=reply))
    client = TeacherClient(teacher_settings(server))
    assert (await client.ask("analyst", QUESTION, City, round_no=1)).country == "France"
    await client.aclose()
    assert server.calls == 1


async def test_bare_list_is_wrapped_into_single_list_field(fake_openai, teacher_settings):
    server = fake_openai(Script(default='[{"text": "Paris", "type": "LOC"}]'))
    client = TeacherClient(teacher_settings(server))
    result = await client.ask("labeler", QUESTION, Entities, round_no=1)
    await client.aclose()
    assert result.entities == [Entity(text="Paris", type="LOC")]


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


async def test_cache_replays_with_zero_server_calls(fake_openai, teacher_settings, tmp_path):
    script = Script(default=GOOD).on(re.compile("call 1$"), "not json", times=1)
    first_server = fake_openai(script)
    asks = [[{"role": "user", "content": f"capital of France, call {i}"}] for i in range(4)]

    async def run(client: TeacherClient) -> tuple[list[City], list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []
        cities = await asyncio.gather(
            *(
                client.ask("analyst", m, City, round_no=1 + i % 2, emit=events.append)
                for i, m in enumerate(asks)
            )
        )
        await client.aclose()
        return list(cities), events

    with ResponseCache(tmp_path / "responses.sqlite") as cache:
        first = TeacherClient(teacher_settings(first_server), cache=cache)
        cities_1, events_1 = await run(first)
    assert first_server.calls == 5 and first.ledger.cache_hits == 0

    # A second server that would fail every request: the rerun must not reach it.
    second_server = fake_openai(Script(default=Reply.error(500)))
    settings = teacher_settings(second_server)
    with ResponseCache(tmp_path / "responses.sqlite") as cache:
        second = TeacherClient(settings, cache=cache)
        cities_2, events_2 = await run(second)
    assert second_server.calls == 0
    assert cities_2 == cities_1
    one, two = first.ledger.as_dict(), second.ledger.as_dict()
    assert two["cache_hits"] == one["calls"] == 5 and two["calls"] == 0
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert one[key] == two[key]
        for slice_name in ("by_role", "by_round"):
            assert {k: v[key] for k, v in one[slice_name].items()} == {
                k: v[key] for k, v in two[slice_name].items()
            }
    assert all(e["cached"] for e in events_2) and not any(e["cached"] for e in events_1)
    assert sorted(e["ok"] for e in events_2) == sorted(e["ok"] for e in events_1)


async def test_call_key_makes_identical_requests_distinct(fake_openai, teacher_settings, tmp_path):
    server = fake_openai(Script(default=GOOD))
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        client = TeacherClient(teacher_settings(server), cache=cache)
        for key in ("", "", "gen-2"):
            await client.ask("generator", QUESTION, City, round_no=1, call_key=key)
        await client.aclose()
    assert server.calls == 2 and client.ledger.cache_hits == 1


async def test_budget_exhaustion_raises(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD))
    client = TeacherClient(teacher_settings(server, budget_tokens=10))
    with pytest.raises(BudgetExhausted) as info:  # prompt + max_tokens (512) cannot fit
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert info.value.budget_tokens == 10 and server.calls == 0


async def test_budget_is_reserved_so_calls_never_cross_it(fake_openai, teacher_settings):
    """Each call reserves its prompt (3 characters a token) + max_tokens before it is sent,
    so sequential and concurrent calls alike stop before the ledger crosses the budget."""
    server = fake_openai(Script(default=GOOD), latency=0.05)
    probe = TeacherClient(teacher_settings(server, budget_tokens=1, max_tokens=40))
    need = probe.budget.reservation(probe.request_messages(QUESTION, City))  # what one call holds
    budget = 4 * need + need // 2
    settings = teacher_settings(server, budget_tokens=budget, max_tokens=40, max_concurrency=4)
    client = TeacherClient(settings)
    results = await asyncio.gather(
        *(client.ask("labeler", QUESTION, City, round_no=1, call_key=str(i)) for i in range(12)),
        return_exceptions=True,
    )
    await client.aclose()
    done = [r for r in results if isinstance(r, City)]
    refused = [r for r in results if isinstance(r, BudgetExhausted)]
    assert done and refused and len(done) + len(refused) == 12
    assert server.calls == len(done)
    assert client.ledger.total_tokens <= budget
    assert len(done) >= 4  # at least the four reservations that fit at once


async def test_budget_stops_queued_asks_but_lets_in_flight_finish(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD), latency=0.1)
    probe = TeacherClient(teacher_settings(server, budget_tokens=1, max_tokens=40))
    need = probe.budget.reservation(probe.request_messages(QUESTION, City))
    client = TeacherClient(teacher_settings(server, budget_tokens=need + 5, max_tokens=40,
                                            max_concurrency=1))
    results = await asyncio.gather(
        *(client.ask("labeler", QUESTION, City, round_no=1, call_key=str(i)) for i in range(3)),
        return_exceptions=True,
    )
    await client.aclose()
    assert isinstance(results[0], City)
    assert all(isinstance(r, BudgetExhausted) for r in results[1:])
    assert server.calls == 1


def test_client_serves_several_asyncio_runs(fake_openai, teacher_settings):
    """Sync callers (main.main) may run one loop per phase with the same client."""
    server = fake_openai(Script(default=GOOD))
    client = TeacherClient(teacher_settings(server, max_concurrency=2))

    async def once() -> City:
        try:
            return await client.ask("analyst", QUESTION, City, round_no=1)
        finally:
            await client.aclose()

    assert asyncio.run(once()).name == "Paris"
    assert asyncio.run(once()).name == "Paris"
    assert server.calls == 2


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_client_survives_a_loop_that_ended_without_aclose(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD))
    client = TeacherClient(teacher_settings(server))

    async def once() -> City:
        return await client.ask("analyst", QUESTION, City, round_no=1)

    assert asyncio.run(once()).name == "Paris"
    assert asyncio.run(once()).name == "Paris"  # fresh connections in the new loop
    asyncio.run(client.aclose())  # connections of the dead loop are dropped, not awaited
    gc.collect()  # surface the dropped sockets' ResourceWarnings inside this test
    assert server.calls == 2


def test_bad_message_role_is_a_programming_error(fake_openai, teacher_settings):
    server = fake_openai()
    client = TeacherClient(teacher_settings(server))
    with pytest.raises(ValueError, match="role"):
        asyncio.run(client.ask("x", [{"role": "tool", "content": "hi"}], City, round_no=1))
    assert server.calls == 0


async def test_quota_exhausted_429_is_teacher_unavailable(fake_openai, teacher_settings):
    quota = Reply.error(429, "You exceeded your current quota", code="insufficient_quota")
    quota.headers["x-should-retry"] = "false"  # as OpenAI sends it
    server = fake_openai(Script(default=quota))
    client = TeacherClient(teacher_settings(server))
    with pytest.raises(TeacherUnavailable, match="quota"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert server.calls == 1


@pytest.mark.parametrize(
    "body",
    [
        "this is not json",
        '{"id": "x", "object": "chat.completion", "choices": []}',
        '{"id": "x", "object": "chat.completion"}',
    ],
    ids=["not-json", "no-choices", "missing-choices"],
)
async def test_malformed_200_body_is_retried_then_succeeds(fake_openai, teacher_settings, body):
    server = fake_openai(Script(default=GOOD).on("capital", Reply(raw_body=body), times=1))
    client = TeacherClient(teacher_settings(server))
    events: list[dict[str, Any]] = []
    city = await client.ask("analyst", QUESTION, City, round_no=1, emit=events.append)
    await client.aclose()
    assert city.name == "Paris" and server.calls == 2
    assert server.requests[1]["messages"] == server.requests[0]["messages"]  # nothing to correct
    assert [e["ok"] for e in events] == [False, True]
    assert "malformed response" in events[0]["error"]


@pytest.mark.parametrize("method", ["json_object", "function_calling"])
async def test_cut_off_reply_is_fed_back_and_retried(fake_openai, teacher_settings, method):
    cut = Reply('{"name": "Par', finish_reason="length")
    server = fake_openai(Script(default=GOOD).on("capital", cut, times=1))
    client = TeacherClient(teacher_settings(server, structured_method=method))
    assert (await client.ask("analyst", QUESTION, City, round_no=1)).name == "Paris"
    await client.aclose()
    assert "cut off" in request_text(server.requests[1])


async def test_missing_usage_is_estimated(fake_openai, teacher_settings):
    server = fake_openai(Script(default=Reply(GOOD, usage={})))
    client = TeacherClient(teacher_settings(server))
    await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert client.ledger.prompt_tokens > 0 and client.ledger.completion_tokens > 0
