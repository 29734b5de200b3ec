"""Bad LLM replies never crash: any text becomes an accepted sample or a drop with a reason.

The teacher client's whole validation path (JSON extraction, schema, each role's check, the
validate-and-retry loop) runs for real; only the HTTP fetch is replaced by a stub that hands
out hypothesis-generated reply texts, so no server is needed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evokd.agents.analyst import analyze
from evokd.agents.critic import criticize
from evokd.agents.generator import GeneratorRequest, generate
from evokd.agents.labeler import label
from evokd.samples.align import tokenize, validate_iob2
from evokd.samples.drops import DROP_REASONS, MAX_WORDS, word_count
from evokd.tasks.spec import TaskSpec
from evokd.teacher import TeacherClient, TeacherSettings
from evokd.teacher.jsonfix import extract_json
from evokd.teacher.validation import Reply

NER = TaskSpec(name="toy_ner", kind="ner", description="NER in news.",
               labels=("PER", "ORG", "LOC", "MISC"), label_descriptions={}, data_format="conll")
CLS = TaskSpec(name="toy_cls", kind="cls", description="Sentiment.",
               labels=("negative", "positive"), label_descriptions={}, data_format="jsonl")
SENTENCE = "Anna Berg of Nordbank met Olympic officials in Oslo ."
PROPERTY = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class StubClient(TeacherClient):
    """A TeacherClient whose replies come from a list instead of a server."""

    def __init__(self, replies: list[tuple[str, str | None]]) -> None:
        super().__init__(TeacherSettings(base_url="http://127.0.0.1:9/v1", model="stub",
                                         api_key="", validation_retries=2))
        self._replies: Iterator[tuple[str, str | None]] = iter(replies)
        self.asked = 0

    async def _fetch(self, *args: Any, **kwargs: Any) -> Reply:
        self.asked += 1
        text, finish = next(self._replies, ("", None))
        return Reply(text, 10, 10, finish, False, 0.0)


# -- reply texts ------------------------------------------------------------------------------

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=15,
)
_labels = st.sampled_from([*NER.labels, *CLS.labels, "per", "CITY", "", "B-PER", 3])
_spans = st.sampled_from(["Anna Berg", "Nordbank", "Oslo", "Olympic", "anna berg", "Berg of",
                          "Paris", "", " ", "Oslo .", "Anna  Berg"])
_entity = st.fixed_dictionaries({"text": _spans | st.text(max_size=12), "type": _labels})
_shaped = st.one_of(  # near-valid replies of every role, with wrong bits mixed in
    st.fixed_dictionaries({"sentence": st.just(SENTENCE) | st.text(max_size=30),
                           "entities": st.lists(_entity, max_size=4) | _json_value}),
    st.fixed_dictionaries({"label": _labels | _json_value}),
    st.fixed_dictionaries({"texts": st.lists(st.text(max_size=60) | st.just(SENTENCE),
                                             max_size=5) | _json_value}),
    st.fixed_dictionaries({"verdicts": st.lists(st.fixed_dictionaries({
        "index": st.integers(-2, 5) | _json_value, "ok": st.booleans() | _json_value,
        "reason": st.text(max_size=10)}), max_size=5)}),
    st.fixed_dictionaries({"summary": st.text(max_size=30) | _json_value,
                           "weak_labels": st.lists(_labels, max_size=3) | _json_value,
                           "patterns": st.lists(st.text(max_size=10), max_size=3)}),
    st.dictionaries(st.text(max_size=8), _json_value, max_size=3),
    st.lists(_json_value, max_size=3),
)


_valid = st.one_of(  # replies a role accepts (one of the roles, anyway)
    st.fixed_dictionaries({"sentence": st.just(SENTENCE), "entities": st.lists(
        st.fixed_dictionaries({"text": st.sampled_from(["Anna Berg", "Nordbank", "Oslo"]),
                               "type": st.sampled_from(NER.labels)}), max_size=3)}),
    st.fixed_dictionaries({"label": st.sampled_from(CLS.labels)}),
    st.fixed_dictionaries({"texts": st.lists(st.just(SENTENCE), min_size=1, max_size=4)}),
    st.fixed_dictionaries({"summary": st.just("misses names"),
                           "weak_labels": st.lists(st.sampled_from(NER.labels), max_size=2)}),
)


@st.composite
def reply_texts(draw: st.DrawFn) -> str:
    """Arbitrary text, JSON, near-valid JSON in prose or fences, cut off, or nested deeply."""
    kind = draw(st.sampled_from(["text", "json", "shaped", "wrapped", "cut", "deep", "valid"]))
    if kind == "valid":
        return json.dumps(draw(_valid))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "json":
        return json.dumps(draw(_json_value))
    body = json.dumps(draw(_shaped | _valid), ensure_ascii=draw(st.booleans()))
    if kind == "shaped":
        return body
    if kind == "wrapped":
        return draw(st.sampled_from(["Sure! ```json\n{}\n```", "Here: {} hope it helps",
                                     "{}", "```\n{},\n```"])).replace("{}", body, 1)
    if kind == "cut":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))]
    depth = draw(st.integers(100, 5000))
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"entities":[', "]}")]))
    return opening * depth + (closing * depth if draw(st.booleans()) else "")


_replies = st.lists(st.tuples(reply_texts(), st.sampled_from([None, "stop", "length"])),
                    min_size=1, max_size=3)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _assert_drops(drops: list[dict[str, Any]]) -> None:
    for drop in drops:
        assert drop["reason"] in DROP_REASONS and isinstance(drop["detail"], str)


# -- the properties ---------------------------------------------------------------------------


@PROPERTY
@given(text=st.text(max_size=300) | reply_texts())
def test_extract_json_returns_a_value_or_raises_value_error(text: str) -> None:
    try:
        value = extract_json(text)
    except ValueError as error:
        assert str(error)
        return
    json.dumps(value)  # a plain JSON value


@PROPERTY
@given(replies=_replies, task=st.sampled_from([NER, CLS]))
def test_labeler_accepts_a_well_formed_sample_or_drops_with_a_reason(
    replies: list[tuple[str, str | None]], task: TaskSpec
) -> None:
    client = StubClient(replies)
    text = SENTENCE if task.kind == "ner" else "a warm and funny film"
    examples, drops = _run(label(client, task, {"text": text, "stance": "hard"}, round_no=1))
    assert len(examples) + len(drops) == 1 and client.asked <= 3
    _assert_drops(drops)
    for example in examples:
        if task.kind == "ner":
            assert example["tokens"] == tokenize(SENTENCE)
            validate_iob2(example["tags"], len(example["tokens"]), task.labels)
            assert all(e["type"] in task.labels for e in example["entities"])
        else:
            assert example["label"] in task.labels


@PROPERTY
@given(replies=_replies, task=st.sampled_from([NER, CLS]))
def test_generator_gives_usable_texts_or_drops(
    replies: list[tuple[str, str | None]], task: TaskSpec
) -> None:
    client = StubClient(replies)
    intended = "positive" if task.kind == "cls" else None
    request = GeneratorRequest("easy", 3, 1, {"summary": "x", "weak_labels": ["PER"]},
                               intended_label=intended)
    samples, drops = _run(generate(client, task, request))
    assert len(samples) <= 3
    _assert_drops(drops)
    for sample in samples:
        assert sample["text"].strip() and word_count(sample["text"]) <= MAX_WORDS[task.kind]
        assert sample["intended_label"] == intended


@PROPERTY
@given(replies=_replies)
def test_critic_keeps_or_drops_every_sample(replies: list[tuple[str, str | None]]) -> None:
    client = StubClient(replies)
    samples = [{"text": f"{name} joined Nordbank .", "tokens": [*name.split(), "joined",
                "Nordbank", "."], "tags": ["B-PER", "I-PER", "O", "B-ORG", "O"]}
               for name in ("Anna Berg", "Ivy Chen", "Omar Haddad")]
    kept, drops = _run(criticize(client, NER, samples, round_no=1))
    assert len(kept) + len(drops) == len(samples)
    assert all(sample in samples for sample in kept)
    _assert_drops(drops)


@PROPERTY
@given(replies=_replies, task=st.sampled_from([NER, CLS]))
def test_analyst_always_gives_an_analysis_over_known_labels(
    replies: list[tuple[str, str | None]], task: TaskSpec
) -> None:
    client = StubClient(replies)
    wrong = [{"text": SENTENCE, "gold": [{"text": "Oslo", "type": "LOC"}], "predicted": []}]
    analysis = _run(analyze(client, task, round_no=1, correct=[], wrong=wrong))
    assert isinstance(analysis["summary"], str)
    assert set(analysis["weak_labels"]) <= set(task.labels)
