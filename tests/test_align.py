"""Tokeniser and span-to-IOB2 aligner (pure Python)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evokd.samples.align import align_entities, entities_from_tags, tokenize, validate_iob2

LABELS = ("PER", "ORG", "LOC", "MISC")


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Steve Jobs joined CNN in 1996.", ["Steve", "Jobs", "joined", "CNN", "in", "1996", "."]),
        (
            "The U.S. grew 3.5% on 1996-08-22,",
            ["The", "U.S.", "grew", "3.5", "%", "on", "1996-08-22", ","],
        ),
        (
            "Mr. Smith of Acme Inc. paid $1,000",
            ["Mr.", "Smith", "of", "Acme", "Inc.", "paid", "$", "1,000"],
        ),
        (
            "Germany's O'Neill don't (sic)",
            ["Germany", "'s", "O'Neill", "do", "n't", "(", "sic", ")"],
        ),
        ("New York-based firm... yes", ["New", "York-based", "firm", "...", "yes"]),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_tokenize_non_string() -> None:
    assert tokenize(None) == []


def test_align_example() -> None:
    tokens = ["Steve", "Jobs", "joined", "CNN", "in", "1996", "."]
    tags, entities = align_entities(
        tokens, [{"text": "Steve Jobs", "type": "PER"}, {"text": "CNN", "type": "ORG"}], LABELS
    )
    assert tags == ["B-PER", "I-PER", "O", "B-ORG", "O", "O", "O"]
    assert entities == [{"text": "Steve Jobs", "type": "PER"}, {"text": "CNN", "type": "ORG"}]


def test_align_all_occurrences_longest_first_no_overlap() -> None:
    tokens = tokenize("New York fans love New York and York .")
    tags, _ = align_entities(
        tokens, [{"text": "York", "type": "LOC"}, {"text": "New York", "type": "ORG"}], LABELS
    )
    assert tags == ["B-ORG", "I-ORG", "O", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O"]


def test_align_case_insensitive_fallback_and_type_case() -> None:
    tokens = tokenize("the eu said so")
    tags, entities = align_entities(tokens, [{"text": "EU", "type": "org"}], LABELS)
    assert tags == ["O", "B-ORG", "O", "O"]
    assert entities == [{"text": "eu", "type": "ORG"}]


def test_align_case_sensitive_preferred() -> None:
    tokens = tokenize("Apple sells apple juice")
    tags, _ = align_entities(tokens, [{"text": "Apple", "type": "ORG"}], LABELS)
    assert tags == ["B-ORG", "O", "O", "O"]


def test_align_tokenisation_mismatch() -> None:
    tokens = tokenize("He visited the U.S. and New York-based Acme yesterday.")
    tags, _ = align_entities(
        tokens,
        [{"text": "U. S.", "type": "LOC"}, {"text": "NewYork-based", "type": "MISC"}],
        LABELS,
    )
    assert tags[3] == "B-LOC" and tags[5:7] == ["B-MISC", "I-MISC"]
    with pytest.raises(ValueError, match="does not occur"):
        align_entities(tokens, [{"text": "U.S", "type": "LOC"}], LABELS)


def test_align_errors_name_the_problems() -> None:
    tokens = tokenize("Steve Jobs joined CNN.")
    with pytest.raises(ValueError) as info:
        align_entities(
            tokens,
            [{"text": "Bill Gates", "type": "PER"}, {"text": "CNN", "type": "COMPANY"}],
            LABELS,
        )
    assert '"Bill Gates" (PER) does not occur' in str(info.value)
    assert 'unknown type "COMPANY"' in str(info.value)


def test_align_ignores_blank_entities() -> None:
    tags, entities = align_entities(["a"], [{"text": " ", "type": "PER"}], LABELS)
    assert tags == ["O"] and entities == []


def test_entities_from_tags_roundtrip() -> None:
    tokens = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    tags = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert entities_from_tags(tokens, tags) == [
        {"text": "EU", "type": "ORG"},
        {"text": "German", "type": "MISC"},
        {"text": "British", "type": "MISC"},
    ]


def test_validate_iob2() -> None:
    validate_iob2(["B-PER", "I-PER", "O"], 3, LABELS)
    for bad in (["I-PER"], ["B-PER", "I-ORG"], ["B-FOO"], ["X-PER"], [1]):
        with pytest.raises(ValueError):
            validate_iob2(bad, 1 if len(bad) == 1 else 2, LABELS)


def _assert_valid_iob2(tags: list[str], n: int) -> None:
    validate_iob2(tags, n, LABELS)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_tokenize_property(text: str) -> None:
    tokens = tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    assert "".join(tokens) == "".join(text.split())


_entity = st.fixed_dictionaries(
    {
        "text": st.one_of(st.text(max_size=20), st.none(), st.integers()),
        "type": st.one_of(st.sampled_from(LABELS + ("per", "X")), st.text(max_size=5)),
    }
)
_entities = st.one_of(
    st.lists(_entity, max_size=5),
    st.lists(st.one_of(_entity, st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.none(),
    st.text(max_size=10),
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120), _entities)
def test_align_property(text: str, entities: object) -> None:
    tokens = tokenize(text)
    try:
        tags, tagged = align_entities(tokens, entities, LABELS)
    except ValueError as error:
        assert str(error)
        return
    assert len(tags) == len(tokens)
    _assert_valid_iob2(tags, len(tokens))
    assert all(e["type"] in LABELS for e in tagged)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abAB .", min_size=1, max_size=4), min_size=1, max_size=12), st.data()
)
def test_align_finds_substrings_of_the_sentence(tokens: list[str], data: st.DataObject) -> None:
    tokens = [t for t in (tok.strip() for tok in tokens) if t] or ["a"]
    start = data.draw(st.integers(0, len(tokens) - 1))
    end = data.draw(st.integers(start + 1, len(tokens)))
    tags, tagged = align_entities(
        tokens, [{"text": " ".join(tokens[start:end]), "type": "PER"}], LABELS
    )
    assert "B-PER" in tags and tagged
    _assert_valid_iob2(tags, len(tokens))
