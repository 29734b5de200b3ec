"""Fault injection (fakes/faults.py ``Faulty``) against the teacher client.

Transport faults (429, 5xx, hangs, dropped connections, truncated bodies) must be invisible:
the client retries the very same request and gets the real reply. Content faults (wrong keys,
unknown labels, empty replies) are fed back by the validate-and-retry loop, which then gets
the real reply. 401/403 stop at once.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from evokd.agents.labeler import NerLabels
from evokd.teacher import TeacherClient, TeacherUnavailable
from fakes.faults import (
    BOGUS_LABEL,
    CONTENT_FAULTS,
    FAULT_KINDS,
    TRANSPORT_FAULTS,
    Faulty,
    mislabel,
)
from fakes.replies import Reply

LABELS = ("PER", "ORG")
REAL = {"sentence": "Anna Berg joined Nordbank .",
        "entities": [{"text": "Anna Berg", "type": "PER"}, {"text": "Nordbank", "type": "ORG"}]}


def _check(reply: NerLabels) -> None:
    unknown = [e.type for e in reply.entities if e.type not in LABELS]
    if unknown:
        raise ValueError(f"unknown types {unknown}")


MESSAGES = [{"role": "system", "content": "You are a careful annotator."},
            {"role": "user", "content": "Label: Anna Berg joined Nordbank ."}]


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_each_fault_is_survived_and_transport_faults_are_invisible(
    kind: str, fake_openai, teacher_settings
) -> None:
    faulty = Faulty(lambda request: json.dumps(REAL), rate=1.0, kinds=[kind],
                    max_per_request=1, hang_s=5.0)
    server = fake_openai(faulty)
    async with TeacherClient(teacher_settings(server, timeout_s=0.5)) as client:
        value = await client.ask("labeler", MESSAGES, NerLabels, round_no=1, check=_check)
    assert value.model_dump() == REAL
    assert faulty.faults == {kind: 1}
    assert server.calls == 2  # the fault, then the real reply: no retry storm, nothing lost
    first, second = server.requests
    if kind in TRANSPORT_FAULTS:
        assert second == first  # the same request again: the fault left no trace in the prompt
    else:
        assert second["messages"][:2] == first["messages"]
        assert [m["role"] for m in second["messages"][2:]] == ["assistant", "user"]
        assert "could not be used" in second["messages"][3]["content"]


async def test_a_fault_on_every_try_ends_as_a_reply_error_not_a_crash(
    fake_openai, teacher_settings
) -> None:
    from evokd.teacher import LLMReplyError

    faulty = Faulty(lambda request: json.dumps(REAL), rate=1.0, kinds=CONTENT_FAULTS,
                    max_per_request=99)
    server = fake_openai(faulty)
    async with TeacherClient(teacher_settings(server)) as client:
        with pytest.raises(LLMReplyError):
            await client.ask("labeler", MESSAGES, NerLabels, round_no=1, check=_check)
    assert server.calls == 3  # the first try and two validation retries


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_fail_fast_with_one_request(
    status: int, fake_openai, teacher_settings
) -> None:
    server = fake_openai(lambda request: Reply.error(status, "no"))
    async with TeacherClient(teacher_settings(server, http_retries=3)) as client:
        with pytest.raises(TeacherUnavailable) as info:
            await client.ask("labeler", MESSAGES, NerLabels, round_no=1)
    assert server.calls == 1
    assert str(status) in str(info.value) and "\n" not in str(info.value)


def _drive(faulty: Faulty, conversations: int, attempts: int) -> list[tuple[str, str, int]]:
    async def go() -> None:
        for c in range(conversations):
            for _ in range(attempts):
                await faulty({"messages": [{"role": "user", "content": f"request {c}"}]})

    asyncio.run(go())
    return faulty.log


def test_faults_are_deterministic_by_seed_and_follow_the_rate() -> None:
    def make(seed: int) -> Faulty:
        return Faulty(lambda request: json.dumps(REAL), rate=0.3, seed=seed, max_per_request=99)

    first = _drive(make(7), 400, 3)
    assert first == _drive(make(7), 400, 3)
    assert first != _drive(make(8), 400, 3)
    assert 0.25 < len(first) / 1200 < 0.35
    assert {kind for kind, _, _ in first} == set(FAULT_KINDS)


def test_fault_budget_per_request_and_original_conversation() -> None:
    seen: list[dict] = []

    def inner(request: dict) -> str:
        seen.append(request)
        return json.dumps(REAL)

    faulty = Faulty(inner, rate=1.0, max_per_request=2)
    request = {"messages": [*MESSAGES, {"role": "assistant", "content": "bad"},
                            {"role": "user", "content": "fix it"}]}
    replies = asyncio.run(_replies(faulty, request, 4))
    assert sum(faulty.faults.values()) == 2 and replies[2:] == [json.dumps(REAL)] * 2
    assert all(r["messages"] == MESSAGES for r in seen)  # inner never sees the corrections


async def _replies(faulty: Faulty, request: dict, n: int) -> list:
    return [await faulty(request) for _ in range(n)]


@pytest.mark.parametrize(("content", "expected"), [
    ('{"label": "positive"}', {"label": BOGUS_LABEL}),
    ('{"sentence": "a", "entities": []}', {"sentence": "a",
                                           "entities": [{"text": "x", "type": BOGUS_LABEL}]}),
    ('{"summary": "s", "weak_labels": ["PER"]}', {"summary": "s", "weak_labels": [BOGUS_LABEL]}),
    ('{"verdicts": [{"index": 0, "ok": true}]}', {"verdicts": [{"index": 10000, "ok": True}]}),
    ('{"texts": ["a"]}', {"texts": []}),
])
def test_mislabel(content: str, expected: dict) -> None:
    assert json.loads(mislabel(content)) == expected


def test_mislabel_without_labels_gives_none() -> None:
    assert mislabel('{"other": 1}') is None and mislabel("not json") is None
