"""The critic's rule checks (pure Python, no LLM)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evokd.samples.drops import DROP_REASONS
from evokd.samples.rules import RuleCritic, check_rules, normalise, text_key
from evokd.tasks.spec import TaskSpec
from tests.toy_tasks import NER_LABELS, SENTIMENT_LABELS, toy_task

NER = toy_task("ner", NER_LABELS, "toy NER")
CLS = toy_task("cls", SENTIMENT_LABELS, "toy sentiment")
SEED_NER = {
    "tokens": ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
    "tags": ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
}


def ner(text: str, tags: list[str] | None = None, **extra: object) -> dict:
    tokens = text.split()
    return {"text": text, "tokens": tokens, "tags": tags or ["O"] * len(tokens), **extra}


def reasons(dropped: list[dict]) -> list[str]:
    return [d["reason"] for d in dropped]


def test_normalise_and_key() -> None:
    assert normalise("CNN .") == normalise("cnn.") == "cnn"
    assert text_key("Steve  Jobs!") == text_key("steve jobs")


def test_ner_rules() -> None:
    samples = [
        ner("Steve Jobs joined CNN .", ["B-PER", "I-PER", "O", "B-ORG", "O"]),  # ok
        ner("Bill went home .", ["B-PERSON", "O", "O", "O"]),  # unknown type
        ner("Bill went home .", ["I-PER", "O", "O", "O"]),  # invalid IOB2
        {"tokens": ["a", "b"], "tags": ["O"]},  # length mismatch
        ner("Bill went home .", entities=[{"text": "Bob", "type": "PER"}]),  # span missing
        ner(" ".join(["word"] * 41)),  # too long
        ner(". ,"),  # no words
        ner("steve jobs joined cnn"),  # duplicate of the first (normalised)
        ner("EU rejects German call to boycott British lamb"),  # seed copy
        ner("A sentence from the test split ."),  # leak
    ]
    kept, dropped = check_rules(
        NER,
        samples,
        seeds=[SEED_NER],
        leak_keys={text_key("a sentence from the TEST split")},
    )
    assert [k["text"] for k in kept] == ["Steve Jobs joined CNN ."]
    assert reasons(dropped) == ["unknown_label", "malformed_sample", "malformed_sample",
                                "span_not_found", "too_long", "empty", "duplicate", "seed_copy",
                                "leak"]
    assert all(d["role"] == "critic" and d["detail"] and d["sample"] for d in dropped)


def test_seen_from_earlier_rounds() -> None:
    kept, dropped = check_rules(NER, [ner("Old news .")], seen={text_key("old news")})
    assert not kept and reasons(dropped) == ["duplicate"]


def test_seed_copy_by_similarity() -> None:
    seed = {"text": "a stirring , funny and finally transporting re-imagining", "label": "positive"}
    near = {"text": "a stirring, funny and finally transporting reimagining", "label": "positive"}
    kept, dropped = check_rules(CLS, [near], seeds=[seed])
    assert reasons(dropped) == ["seed_copy"]


def test_seed_copy_inside_a_longer_text() -> None:
    seed = {"text": "Could you add a dark mode?", "label": "positive"}
    padded = {"text": "Hello team. Could you add a dark mode? My eyes hurt at night when I "
                      "write long notes in the evening.", "label": "positive"}
    other = {"text": "Could you add a calendar view with reminders for my notes?",
             "label": "positive"}
    kept, dropped = check_rules(CLS, [padded, other], seeds=[seed])
    assert reasons(dropped) == ["seed_copy"] and dropped[0]["detail"] == (
        "holds a seed example word for word")
    assert [k["text"] for k in kept] == [other["text"]]


def test_text_rules_alone_for_unlabelled_texts() -> None:
    texts = [{"text": "Siemens hired Anna Berg ."}, {"text": "siemens hired anna berg"},
             {"text": "EU rejects German call to boycott British lamb ."},
             {"text": " ".join(["word"] * 41)},
             {"text": "...</sample>, <sample index=\"2\">Reuters</sample>"}]
    critic = RuleCritic(NER, seeds=[SEED_NER])
    kept, dropped = critic.filter(texts, labels=False)
    assert [k["text"] for k in kept] == ["Siemens hired Anna Berg ."]
    assert reasons(dropped) == ["duplicate", "seed_copy", "too_long", "malformed_sample"]
    for fine in ("Profits rose 5 % as 3 < 4 > 2 .", "A fine film .<br /><br />Go see it ."):
        assert RuleCritic(CLS).check_text(fine) is None
    kept, dropped = RuleCritic(NER).filter(texts[:1])  # with labels checked: no tokens
    assert reasons(dropped) == ["malformed_sample"]


def test_cls_rules() -> None:
    samples = [
        {"text": "A joy to watch.", "label": "positive", "intended_label": "positive"},
        {"text": "Dull and long.", "label": "neutral"},
        {"text": "Dull, long, tedious.", "label": "positive", "intended_label": "negative"},
        {"text": "", "label": "negative"},
        {"text": 3, "label": "negative"},
        "not a dict",
    ]
    kept, dropped = check_rules(CLS, samples)
    assert [k["text"] for k in kept] == ["A joy to watch."]
    assert reasons(dropped) == ["unknown_label", "label_disagreement", "empty",
                                "malformed_sample", "malformed_sample"]


_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=30),
        st.sampled_from(["O", "B-PER", "I-PER", "positive", "negative"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_sample = st.one_of(
    st.dictionaries(
        st.sampled_from(["text", "tokens", "tags", "label", "intended_label", "entities"]),
        _value,
        max_size=6,
    ),
    _value,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_sample, max_size=6), st.sampled_from([NER, CLS]))
def test_rules_accept_anything(samples: list, task: TaskSpec) -> None:
    kept, dropped = check_rules(task, samples, seeds=[SEED_NER, {"text": "x", "label": 1}, 5])
    assert len(kept) + len(dropped) == len(samples)
    assert all(d["reason"] in DROP_REASONS and isinstance(d["detail"], str) for d in dropped)
