"""JSON extraction, repair, schema checks and prompts of the local teacher (no model)."""

from __future__ import annotations

import json

import pytest

from evokd.teacher.local.structured import (
    JSONReplyError,
    closes_json_object,
    extract_json_object,
    json_prefix,
    parse_json_reply,
    schema_errors,
    schema_instruction,
)

NER = {
    "type": "object",
    "properties": {
        "sentence": {"type": "string", "description": "one sentence"},
        "entities": {"type": "array", "items": {"$ref": "#/$defs/Entity"}},
    },
    "required": ["sentence", "entities"],
    "$defs": {"Entity": {"title": "Entity", "type": "object", "properties": {
        "text": {"type": "string"}, "type": {"enum": ["PER", "ORG", "LOC", "MISC"]}},
        "required": ["text", "type"]}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Here you go:\n```json\n{"a": {"b": [1, 2]}}\n```\nAnything else?', {"a": {"b": [1, 2]}}),
        ('{"a": "curly } and { in a string", "b": "quote \\" ok"}',
         {"a": "curly } and { in a string", "b": 'quote " ok'}),
        ('{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}),
        ('{"a": "trunc', {"a": "trunc"}),
        ('{"a": [{"b": 1}, {"c": ', {"a": [{"b": 1}, {}]}),
        ('{"a": [1, 2}', {"a": [1, 2]}),
        ("{not json} then {\"ok\": true}", {"ok": True}),
        ('{"a": 1}{"b": 2}', {"a": 1}),
    ],
)
def test_extract_json_object(text, expected):
    assert extract_json_object(text) == expected


@pytest.mark.parametrize(
    ("text", "closed"),
    [
        ('{"a": 1}', True),
        ('{"a": 1}\n\nThis JSON is', True),
        ('{"a": "curly } in a string"', False),
        ('{"a": [1, 2', False),
        ('{"a": [1, 2]}', True),
        ("{not json}", False),  # the extractor looks further: so does decoding
        ('{"a": [1, 2}', False),
        ("no object yet", False),
    ],
)
def test_closes_json_object_where_extraction_would_take_it(text, closed):
    assert closes_json_object(text) is closed
    if closed:  # what follows the object cannot change what the server keeps
        assert extract_json_object(text) == extract_json_object(text + ' {"b": 2} more')


@pytest.mark.parametrize("text", ["", "no braces", "[1, 2]", "{bad: json}"])
def test_extract_json_object_failures(text):
    with pytest.raises(JSONReplyError):
        extract_json_object(text)


def test_schema_errors_cover_types_required_enum_refs():
    good = {"sentence": "Ann met Bob.", "entities": [{"text": "Ann", "type": "PER"}]}
    assert schema_errors(good, NER) == []
    bad = {"sentence": 3, "entities": [{"text": "Ann", "type": "PERSON"}, {"type": "ORG"}]}
    errors = schema_errors(bad, NER)
    assert any("$.sentence" in e and "string" in e for e in errors)
    assert any("PERSON" in e for e in errors)
    assert any("missing required field 'text'" in e for e in errors)
    assert schema_errors(True, {"type": "integer"})  # bools are not integers
    assert schema_errors(None, {"anyOf": [{"type": "string"}, {"type": "null"}]}) == []


def test_parse_json_reply_unwraps_small_model_wrappers():
    value = parse_json_reply('{"name": "NER", "arguments": {"sentence": "x", "entities": []}}',
                             NER)
    assert value == {"sentence": "x", "entities": []}
    with pytest.raises(JSONReplyError, match="missing required field"):
        parse_json_reply('{"sentence": "x"}', NER)


def test_schema_instruction_shows_a_skeleton_not_titles():
    text = schema_instruction(NER)
    assert "JSON object only" in text
    shape = json.loads(text.split("\n", 1)[1])
    assert shape == {"sentence": "<string: one sentence>",
                     "entities": [{"text": "<string>", "type": "PER|ORG|LOC|MISC"}]}
    assert schema_instruction(None).endswith("no code fences.")


def test_json_prefix_starts_the_first_property():
    assert json_prefix(NER) == '{"sentence": "'
    assert json_prefix({"type": "object", "properties": {"n": {"type": "integer"}}}) == '{"n": '
    assert json_prefix({"properties": {"xs": {"type": "array"}}}) == '{"xs": ['
    assert json_prefix({"properties": {"t": {"enum": ["A"]}}}) == '{"t": '
    assert json_prefix({}) == "{"
    assert json_prefix(None) == "{"
