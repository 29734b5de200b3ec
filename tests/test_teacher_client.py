"""TeacherClient against the fake OpenAI server: structured output by each method, request
parameters, concurrency, the response cache, the token budget and event loops.

Bad replies are in test_teacher_client_replies.py, endpoint errors in
test_teacher_client_errors.py; both use the question and schema defined here.
"""

from __future__ import annotations

import asyncio
import gc
import re
import time
from typing import Any

import pytest
from pydantic import BaseModel

from evokd.teacher import BudgetExhausted, ResponseCache, TeacherClient
from evokd.teacher.client import call_seed
from fakes.replies import Reply, Script

GOOD = '{"name": "Paris", "country": "France"}'
QUESTION = [
    {"role": "system", "content": "You know geography."},
    {"role": "user", "content": "What is the capital of France?"},
]


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


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


async def test_record_holds_every_attempt_before_the_reply_returns(fake_openai, teacher_settings):
    """``record`` (the run's trace) gets each attempt's event, ahead of the caller's ``emit``,
    by the time ``ask`` returns: a checkpoint that holds the reply never outruns its tokens."""
    server = fake_openai(Script(default=GOOD).on(re.compile("France"), "not json", times=1))
    client = TeacherClient(teacher_settings(server))
    recorded: list[dict[str, Any]] = []
    order: list[str] = []
    client.record = lambda event: (recorded.append(event), order.append("record"))
    city = await client.ask("analyst", QUESTION, City, round_no=1,
                            emit=lambda event: order.append("emit"))
    await client.aclose()

    assert city.name == "Paris"
    assert [(e["attempt"], e["ok"]) for e in recorded] == [(1, False), (2, True)]
    assert order == ["record", "emit", "record", "emit"]
    assert sum(e["prompt_tokens"] + e["completion_tokens"] for e in recorded) == (
        client.ledger.total_tokens)


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

    # The same endpoint, now failing every request: the rerun must not reach it.
    first_server.stop()
    second_server = fake_openai(Script(default=Reply.error(500)), port=first_server.port)
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


async def test_missing_usage_is_estimated(fake_openai, teacher_settings):
    server = fake_openai(Script(default=Reply(GOOD, usage={})))
    client = TeacherClient(teacher_settings(server))
    await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    assert client.ledger.prompt_tokens > 0 and client.ledger.completion_tokens > 0
