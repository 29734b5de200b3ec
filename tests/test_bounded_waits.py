"""Every wait of a teacher call is bounded, whatever the endpoint sends, against the fake server:
a trickling reply, an infinite rate-limit reset, a 20 MB reply, a long bad reply quoted back,
and an endpoint that echoes the API key."""

from __future__ import annotations

import json
import math
import sqlite3
import stat
import time
from typing import Any

import pytest

from evokd.teacher import LLMReplyError, ResponseCache, TeacherClient, TeacherUnavailable
from evokd.teacher.conversation import QUOTED_CHARS
from evokd.teacher.pacing import Pacer
from fakes.replies import Reply, Script
from tests.test_teacher_client import GOOD, QUESTION, City


async def test_a_trickling_reply_is_cut_at_the_timeout(fake_openai, teacher_settings) -> None:
    server = fake_openai(Script(default=Reply(content=GOOD, trickle=0.05)))  # ~8 s of body
    client = TeacherClient(teacher_settings(server, timeout_s=1.0, http_retries=1))
    started = time.perf_counter()
    with pytest.raises(TeacherUnavailable, match="did not answer within 1s"):
        await client.ask("analyst", QUESTION, City, round_no=1)
    elapsed = time.perf_counter() - started
    await client.aclose()
    assert server.calls == 2  # the first attempt and the SDK's one retry, each cut at 1 s
    assert elapsed < 8.0, elapsed  # one attempt alone would take 17 s
    assert client.in_flight == 0  # its concurrency slot is free again


async def test_an_infinite_reset_header_pauses_for_the_cap_and_is_traced(
    fake_openai, teacher_settings
) -> None:
    limited = Reply(content=GOOD, headers={"x-ratelimit-remaining-requests": "0",
                                           "x-ratelimit-reset-requests": "inf"})
    server = fake_openai(Script(default=GOOD).on("France", limited, times=1))
    client = TeacherClient(teacher_settings(server, max_pause_s=0.5))
    events: list[dict[str, Any]] = []
    client.record = events.append
    await client.ask("analyst", QUESTION, City, round_no=1)
    started = time.perf_counter()
    await client.ask("analyst", QUESTION, City, round_no=1, call_key="2")
    waited = time.perf_counter() - started
    await client.aclose()
    assert 0.3 <= waited < 5.0, waited
    pauses = [e for e in events if e["event"] == "rate_limit_pause"]
    assert pauses == [{"event": "rate_limit_pause", "header": "x-ratelimit-reset-requests",
                       "asked": "inf", "seconds": 0.5, "capped": True}]


@pytest.mark.parametrize("reset", ["inf", "1e12", "nan", "99999h", "-inf"])
def test_no_reset_header_pauses_longer_than_300_s(reset: str) -> None:
    clock = [100.0]
    pacer = Pacer(concurrency=4, clock=lambda: clock[0])
    event = pacer.observe({"x-ratelimit-remaining-tokens": "0",
                           "x-ratelimit-reset-tokens": reset}, tokens=10)
    pause = pacer._delay(clock[0], 1)
    assert math.isfinite(pause) and 0 <= pause <= 300.0
    assert (event is not None) == (reset != "-inf")  # -inf is no wait at all: nothing capped


async def test_a_20_mb_reply_is_refused_unread_and_never_cached(
    fake_openai, teacher_settings, tmp_path
) -> None:
    huge = json.dumps({"name": "x" * 20_000_000, "country": "France"})
    server = fake_openai(Script(default=huge))
    with ResponseCache(tmp_path / "responses.sqlite") as cache:
        client = TeacherClient(teacher_settings(server), cache=cache)
        with pytest.raises(LLMReplyError, match="over 131072 bytes"):
            await client.ask("analyst", QUESTION, City, round_no=1)
        await client.aclose()
        assert len(cache) == 0
    assert server.calls == 1  # neither the SDK nor the validation loop asks again


async def test_a_reply_longer_than_max_tokens_holds_is_not_cached(
    fake_openai, teacher_settings, tmp_path
) -> None:
    long = json.dumps({"name": "x" * 40_000, "country": "France"})  # under the byte cap
    server = fake_openai(Script(default=long))
    with ResponseCache(tmp_path / "responses.sqlite") as cache:
        client = TeacherClient(teacher_settings(server, validation_retries=1), cache=cache)
        with pytest.raises(LLMReplyError, match="more than 512 tokens can hold"):
            await client.ask("analyst", QUESTION, City, round_no=1)
        await client.aclose()
        assert len(cache) == 0
    assert server.calls == 2
    sizes = [sum(len(m["content"] or "") for m in r["messages"]) for r in server.requests]
    assert sizes[0] == sizes[1]  # the refused reply is not sent back


async def test_a_retry_quotes_only_the_tail_of_a_long_bad_reply(
    fake_openai, teacher_settings
) -> None:
    bad = "not json " * 700  # 6300 characters, within what 512 tokens can hold
    server = fake_openai(Script(default=GOOD).on("France", bad, times=1))
    client = TeacherClient(teacher_settings(server))
    await client.ask("analyst", QUESTION, City, round_no=1)
    await client.aclose()
    quoted = [m["content"] for m in server.requests[1]["messages"] if m["role"] == "assistant"]
    assert len(quoted) == 1 and quoted[0].endswith(bad[-QUOTED_CHARS:])
    assert len(quoted[0]) < QUOTED_CHARS + 60 < len(bad)


async def test_an_echoed_key_is_masked_before_the_cache_and_the_caller(
    fake_openai, teacher_settings, tmp_path
) -> None:
    key = "sk-evokd-canary-7f3e9b21c4d8a605"
    other = "sk-proj-ABCDEFGHIJKLMNOPQRSTUV"
    server = fake_openai(Script(default=json.dumps({"name": f"{key} and {other}",
                                                    "country": "France"})))
    with ResponseCache(tmp_path / "responses.sqlite") as cache:
        client = TeacherClient(teacher_settings(server, api_key=key), cache=cache)
        city = await client.ask("analyst", QUESTION, City, round_no=1)
        await client.aclose()
    assert city.name == "*** and ***"
    stored = sqlite3.connect(tmp_path / "responses.sqlite").execute(
        "SELECT raw_text FROM replies").fetchall()
    assert stored and all(key not in text and other not in text for (text,) in stored)


async def test_the_cache_tells_endpoints_apart_and_is_private(
    fake_openai, teacher_settings, tmp_path
) -> None:
    first, second = fake_openai(Script(default=GOOD)), fake_openai(Script(default=GOOD))
    path = tmp_path / "cache" / "responses.sqlite"
    with ResponseCache(path) as cache:
        for server in (first, second):
            client = TeacherClient(teacher_settings(server), cache=cache)
            await client.ask("analyst", QUESTION, City, round_no=1)
            await client.aclose()
    assert first.calls == 1 and second.calls == 1  # the same request, another endpoint
    for name in ("responses.sqlite", "responses.sqlite-wal"):
        if (path.parent / name).exists():
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
