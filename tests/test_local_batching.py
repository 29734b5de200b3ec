"""Requests in flight decoded together: the server's batching queue (with a recording engine)
and the transformers engine's batched decoding (a real model, smollm2-135m, in fp32)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evokd.teacher.local import ModelNotInstalledError, resolve_model
from evokd.teacher.local.engines import ContextLengthError, Generation, GenerationRequest
from evokd.teacher.local.server import TeacherServer

MODEL = "smollm2-135m"


def _ask(text: str, *, max_tokens: int = 12, temperature: float = 0.0, seed: int | None = None,
         stop: list[str] | None = None) -> GenerationRequest:
    return GenerationRequest([{"role": "user", "content": text}], max_tokens, temperature, seed,
                             None, stop or [])


class RecordingEngine:
    """Answers each request with its own text after a pause; records the batches it got."""

    name = "recording"
    constrained = False

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def _answer(self, request: GenerationRequest) -> Generation:
        text = request.messages[-1]["content"]
        if text == "fail":
            raise ContextLengthError("too long")
        return Generation(text.upper(), 3, 1)

    def generate(self, request: GenerationRequest) -> Generation:
        self.batches.append([request.messages[-1]["content"]])
        time.sleep(0.05)
        return self._answer(request)

    def generate_many(self, requests: list[GenerationRequest]) -> list[Any]:
        self.batches.append([r.messages[-1]["content"] for r in requests])
        time.sleep(0.05)
        results: list[Any] = []
        for request in requests:
            try:
                results.append(self._answer(request))
            except ContextLengthError as exc:
                results.append(exc)
        return results

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name}

    def close(self) -> None:
        pass


def _serve(engine: RecordingEngine, texts: list[str], stagger: float = 0.0) -> list[Any]:
    server = TeacherServer(engine, "m")

    async def one(index: int, text: str) -> Any:
        await asyncio.sleep(stagger * index)
        try:
            return (await server.generate(_ask(text))).text
        except ContextLengthError as exc:
            return exc

    async def run() -> list[Any]:
        try:
            return await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))
        finally:
            server.close()

    return asyncio.run(run())


def test_requests_sent_together_are_one_batch_and_each_gets_its_own_reply() -> None:
    engine = RecordingEngine(max_batch=4)
    replies = _serve(engine, ["a", "fail", "c", "d", "e", "f"])
    assert replies[0] == "A" and isinstance(replies[1], ContextLengthError)
    assert replies[2:] == ["C", "D", "E", "F"]
    assert engine.batches == [["a", "fail", "c", "d"], ["e", "f"]]


def test_a_request_arriving_during_a_batch_waits_for_the_next() -> None:
    engine = RecordingEngine(max_batch=4)
    assert _serve(engine, ["a", "b", "c"], stagger=0.035) == ["A", "B", "C"]
    assert engine.batches == [["a"], ["b", "c"]]


def test_an_engine_without_batching_answers_one_at_a_time() -> None:
    engine = RecordingEngine(max_batch=1)
    assert _serve(engine, ["a", "b", "c"]) == ["A", "B", "C"]
    assert engine.batches == [["a"], ["b"], ["c"]]


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from evokd.teacher.local.hf_engine import TransformersEngine
    from evokd.teacher.local.models import weights_cache_dir

    try:
        resolved = resolve_model(MODEL)
    except ModelNotInstalledError as exc:
        pytest.fail(f"the local teacher test model is not installed: {exc}")
    loaded = TransformersEngine(Path(resolved.path), threads=2,
                                weights_cache=weights_cache_dir(resolved.sha256), device="cpu",
                                precision="fp32")
    yield loaded
    loaded.close()



@pytest.mark.slow
@pytest.mark.model
def test_batched_greedy_replies_equal_the_replies_one_at_a_time(engine) -> None:
    asks = [_ask("What is the capital of France?"),
            _ask("Count from 1 to 20, separated by commas.", max_tokens=20),
            _ask("Name three colours.", max_tokens=6)]
    alone = [engine.generate(ask) for ask in asks]
    together = engine.generate_many(asks)
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.prompt_tokens for g in together] == [g.prompt_tokens for g in alone]
    assert [g.completion_tokens for g in together] == [g.completion_tokens for g in alone]
    assert together[2].completion_tokens == 6 and engine.describe()["batched_requests"] >= 3
    assert engine.describe()["weight_layout"] == "in,out"  # fp32 CPU: cpu_layout.py


@pytest.mark.slow
@pytest.mark.model
def test_a_seeded_request_draws_the_same_whatever_shares_its_batch(engine) -> None:
    story = _ask("Tell me a short story.", max_tokens=16, temperature=0.9, seed=7)
    first = engine.generate_many([story, _ask("Name a fruit.")])[0]
    second = engine.generate_many([_ask("Name three colours.", max_tokens=20), story])[1]
    other_seed = engine.generate_many([story._replace(seed=8), _ask("Name a fruit.")])[0]
    assert first.text == second.text and first.completion_tokens == 16
    assert other_seed.text != first.text


@pytest.mark.slow
@pytest.mark.model
def test_stop_strings_and_a_too_long_prompt_in_a_batch(engine) -> None:
    count = _ask("Count from 1 to 20, separated by commas.", max_tokens=20, stop=["\n"])
    huge = _ask("word " * (engine.context + 10))
    stopped, error, fine = engine.generate_many([count, huge, _ask("Name a fruit.")])
    assert stopped.text and "\n" not in stopped.text and stopped.completion_tokens < 20
    assert isinstance(error, ContextLengthError)
    assert fine.text == engine.generate(_ask("Name a fruit.")).text


@pytest.mark.slow
@pytest.mark.model
def test_a_json_reply_ends_with_its_object_alone_and_in_a_batch(engine) -> None:
    """Asked for more after the object, the model would ramble to ``max_tokens``; decoding
    stops where the first complete object closes (what the server keeps anyway)."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    ask = GenerationRequest([{"role": "user", "content": "Name a big city in JSON, then explain "
                              "why at length."}], 80, 0.0, None, schema, [])
    alone = engine.generate(ask)
    together = engine.generate_many([ask, _ask("Name a fruit.")])[0]
    assert alone.text == together.text and alone.text.startswith('{"city": "')
    assert alone.text.endswith("}") and alone.completion_tokens < 10
    assert together.completion_tokens == alone.completion_tokens


@pytest.mark.slow
@pytest.mark.model
def test_a_shared_system_prompt_is_prefilled_once_and_kept_for_the_next_batch(engine) -> None:
    """Rows that start alike (an agent's system part) share one prefill of it; the next batch
    of that role takes it from the prefix cache. Greedy replies stay those of one at a time."""
    system = ("You are a careful annotator of news text. Follow the conventions of the examples "
              "and reply briefly. ") * 3
    asks = [GenerationRequest([{"role": "system", "content": system},
                               {"role": "user", "content": text}], 10, 0.0, None, None, [])
            for text in ("Name a fruit.", "What is the capital of France?", "Name a colour.")]
    alone = [engine.generate(ask) for ask in asks]
    engine._prefix_cache.clear()
    stats = engine.prefill
    before = (stats.prompt_tokens, stats.computed_tokens, stats.seconds)
    first = engine.generate_many(asks[:2])
    hits, reused = engine._prefix_cache.hits, engine._prefix_cache.reused_tokens
    middle = (stats.prompt_tokens, stats.computed_tokens, stats.seconds)
    second = engine.generate_many(asks[1:])
    assert [g.text for g in first + second] == [alone[0].text, alone[1].text, alone[1].text,
                                                alone[2].text]
    assert engine._prefix_cache.hits == hits + 1  # the second batch reused the first's prefix
    assert engine._prefix_cache.reused_tokens - reused >= 50
    # what the prefills cost: every prompt token counted, the shared part computed once
    # (first batch), then not at all but its last token (second batch, kept from the first)
    prompt, computed, seconds = (m - b for m, b in zip(middle, before, strict=True))
    assert prompt == sum(g.prompt_tokens for g in first) and seconds > 0
    assert prompt - computed >= 50  # the second row's copy of the system part
    assert computed >= 50  # the system part once
    prompt, computed, _ = (a - m for a, m in
                           zip((stats.prompt_tokens, stats.computed_tokens, stats.seconds),
                               middle, strict=True))
    assert prompt == sum(g.prompt_tokens for g in second) and prompt - computed >= 100
    assert engine.describe()["prefill_computed_tokens"] == stats.computed_tokens


class StreamingEngine(RecordingEngine):
    """Continuous batching: each ``generate_stream`` run answers its requests one at a time
    and, between them, takes the requests that arrived meanwhile; records each run's texts."""

    def generate_stream(self, pairs: list[Any], more: Any, deliver: Any) -> None:
        texts = [request.messages[-1]["content"] for _, request in pairs]
        self.batches.append(texts)
        while pairs:
            key, request = pairs.pop(0)
            time.sleep(0.03)
            try:
                deliver(key, self._answer(request))
            except ContextLengthError as exc:
                deliver(key, exc)
            joined = more(self.max_batch - len(pairs))
            texts += [request.messages[-1]["content"] for _, request in joined]
            pairs += joined


def test_a_request_arriving_during_a_stream_joins_it() -> None:
    engine = StreamingEngine(max_batch=4)
    replies = _serve(engine, ["a", "b", "fail", "d"], stagger=0.02)
    assert replies[:2] == ["A", "B"] and isinstance(replies[2], ContextLengthError)
    assert replies[3] == "D"
    assert engine.batches == [["a", "b", "fail", "d"]]  # one run: the later ones joined it


def _pairs(asks: list[GenerationRequest]) -> list[tuple[int, GenerationRequest]]:
    return list(enumerate(asks))


@pytest.mark.slow
@pytest.mark.model
def test_rows_join_a_running_batch_and_leave_it_as_they_end(engine) -> None:
    """Continuous batching: a request handed over mid-decode is prefilled and joins the batch
    (up to ``max_batch`` rows); each reply is delivered when it ends, and greedy replies stay
    those of one at a time."""
    asks = [_ask("Count from 1 to 30, separated by commas.", max_tokens=40),
            _ask("Name three colours.", max_tokens=6),
            _ask("What is the capital of France?", max_tokens=12),
            _ask("Name a fruit.", max_tokens=8)]
    alone = [engine.generate(ask) for ask in asks]
    later = _pairs(asks)[2:]
    delivered: list[tuple[int, int]] = []  # (request, replies delivered before it)
    rows_at_handover: list[int] = []

    def more(room: int) -> list[tuple[int, GenerationRequest]]:
        rows_at_handover.append(room)
        if len(delivered) < 1 or not later:
            return []
        return [later.pop(0)]  # one at a time, each after a reply has ended

    def deliver(key: int, result: Any) -> None:
        delivered.append((key, result))

    saved, engine.max_batch = engine.max_batch, 2
    try:
        engine.generate_stream(_pairs(asks)[:2], more, deliver)
    finally:
        engine.max_batch = saved
    assert {key: g.text for key, g in delivered} == {i: g.text for i, g in enumerate(alone)}
    order = [key for key, _ in delivered]
    assert order[0] == 1 and order[-1] == 0  # the short reply came back long before the count
    assert set(order[1:3]) == {2, 3}  # both joined while the count was still being decoded
    assert rows_at_handover[0] == 1  # one place free (the count still running), never more


@pytest.mark.slow
@pytest.mark.model
def test_more_requests_than_places_all_get_replies_when_each_ends_at_once(engine) -> None:
    """Rows that end on their first token free their places before any decode step; the
    requests still waiting are admitted then (they were once left unanswered)."""
    asks = [_ask(text, max_tokens=1) for text in ("Name a fruit.", "Name a colour.",
                                                  "Name a city.", "Name a river.", "Name a car.")]
    alone = [engine.generate(ask).text for ask in asks]
    saved, engine.max_batch = engine.max_batch, 2
    try:
        together = engine.generate_many(asks)
    finally:
        engine.max_batch = saved
    assert [g.text for g in together] == alone
