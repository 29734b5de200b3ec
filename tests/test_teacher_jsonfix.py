"""The lenient JSON extractor (teacher/jsonfix.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evokd.teacher.jsonfix import extract_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ("```\n[1, 2]\n```", [1, 2]),
        ('Here is the JSON you asked for:\n{"a": [1, 2]}\nHope it helps!', {"a": [1, 2]}),
        ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
        ("{'a': 'x', 'b': \"it's\"}", {"a": "x", "b": "it's"}),
        ("{'text': 'l\\'Oréal'}", {"text": "l'Oréal"}),
        ("{a: 1, b_c: true}", {"a": 1, "b_c": True}),
        ("{'ok': True, 'none': None, 'no': False}", {"ok": True, "none": None, "no": False}),
        (
            'Sure:\n```json\n{"entities": [{"text": "Paris", "type": "LOC"},]}\n```',
            {"entities": [{"text": "Paris", "type": "LOC"}]},
        ),
        (
            '{"a": "brace } and bracket ] inside"} trailing {"b": 2}',
            {"a": "brace } and bracket ] inside"},
        ),
        ('[{"a": 1}] and then prose', [{"a": 1}]),
        ('Types [PER, LOC] found: {"a": 1}', {"a": 1}),
        ('```json\n{"k```": 1}\n```', {"k```": 1}),
        ('  \n{"a": "line\\nbreak"}\n', {"a": "line\nbreak"}),
    ],
)
def test_extracts(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "no json here",
        '{"a": 1',
        '```json\n{"entities": [{"text": "Par',
        '{"entities": [{"text": "Paris", "type": "LOC"}], "note": "cut',  # no inner list
    ],
)
def test_raises_value_error_when_nothing_parses(text):
    with pytest.raises(ValueError):
        extract_json(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    value=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    prefix=st.sampled_from(["", "Here you go: ", "Sure!\n```json\n", "```\n"]),
    suffix=st.sampled_from(["", "\n```", "\nThanks.", " \n"]),
)
def test_roundtrips_any_object_wrapped_in_prose_or_fences(value, prefix, suffix):
    text = prefix + json.dumps(value, ensure_ascii=False, indent=1) + suffix
    assert extract_json(text) == value
