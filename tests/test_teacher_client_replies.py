"""TeacherClient and bad replies: each is retried with what was wrong fed back to the model,
until the retries run out (LLMReplyError)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from evokd.teacher import LLMReplyError, TeacherClient
from fakes.replies import Reply, Script
from tests.test_teacher_client import GOOD, QUESTION, City


class Entity(BaseModel):
    text: str
    type: str


class Entities(BaseModel):
    entities: list[Entity]


def request_text(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"], ensure_ascii=False)


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
