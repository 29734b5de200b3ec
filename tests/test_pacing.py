"""Request pacing against the fake server: --rpm / --tpm windows and rate-limit headers."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from evokd.teacher import TeacherClient
from evokd.teacher.pacing import Pacer, parse_reset
from fakes.replies import Reply, Script

GOOD = '{"name": "Paris"}'
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


class City(BaseModel):
    name: str


def _most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_reset_headers_parse_as_providers_write_them() -> None:
    assert parse_reset("1s") == 1.0 and parse_reset("6m0s") == 360.0
    assert parse_reset("20ms") == pytest.approx(0.02) and parse_reset("0.5") == 0.5
    assert parse_reset("") is None and parse_reset("soon") is None


async def test_rpm_never_lets_a_window_hold_more_requests(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD))
    sent: list[float] = []
    client = TeacherClient(teacher_settings(server, rpm=4, rate_window_s=0.5,
                                            max_concurrency=8))
    original = client.pacer.acquire

    async def record(tokens: int) -> None:
        await original(tokens)
        sent.append(time.monotonic())

    client.pacer.acquire = record  # type: ignore[method-assign]
    started = time.monotonic()
    await asyncio.gather(*(client.ask("labeler", QUESTION, City, round_no=1, call_key=str(i))
                           for i in range(10)))
    await client.aclose()
    assert server.calls == 10 and len(sent) == 10
    assert _most_in_any_window(sent, 0.5) <= 4
    assert time.monotonic() - started >= 1.0  # 10 requests at 4 per 0.5 s need two waits


async def test_tpm_counts_prompt_and_max_tokens(fake_openai, teacher_settings):
    server = fake_openai(Script(default=GOOD))
    probe = TeacherClient(teacher_settings(server, max_tokens=50))
    need = probe.budget.reservation(probe.request_messages(QUESTION, City))
    client = TeacherClient(teacher_settings(server, max_tokens=50, tpm=2 * need,
                                            rate_window_s=0.4, max_concurrency=8))
    started = time.monotonic()
    await asyncio.gather(*(client.ask("labeler", QUESTION, City, round_no=1, call_key=str(i))
                           for i in range(6)))
    await client.aclose()
    assert server.calls == 6
    assert time.monotonic() - started >= 0.8  # two requests per 0.4 s window: three windows
    assert client.pacer.waited_s > 0


async def test_nearly_spent_server_window_slows_the_client(fake_openai, teacher_settings):
    replies = iter([Reply(GOOD, headers={"x-ratelimit-remaining-requests": "0",
                                         "x-ratelimit-reset-requests": "300ms"})])
    server = fake_openai(lambda request: next(replies, Reply(GOOD)))
    client = TeacherClient(teacher_settings(server, max_concurrency=1))
    await client.ask("labeler", QUESTION, City, round_no=1, call_key="a")
    started = time.monotonic()
    await client.ask("labeler", QUESTION, City, round_no=1, call_key="b")
    waited = time.monotonic() - started
    await client.aclose()
    assert client.pacer.header_pauses == 1 and waited >= 0.25


async def test_plenty_left_means_no_wait() -> None:
    pacer = Pacer(concurrency=4)
    pacer.observe({"x-ratelimit-remaining-requests": "900", "x-ratelimit-remaining-tokens":
                   "150000", "x-ratelimit-reset-requests": "1s"}, tokens=1000)
    assert not pacer.active and pacer.header_pauses == 0
    started = time.monotonic()
    await pacer.acquire(1000)
    assert time.monotonic() - started < 0.05
