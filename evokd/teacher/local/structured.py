"""JSON output helpers: schema prompts, extraction/repair of JSON replies, light validation.

Used when the engine cannot constrain decoding: the schema is put in the prompt, the first
balanced JSON object is cut out of the reply (code fences, prose and a truncated tail are
tolerated) and checked against the schema so that the server can retry once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evokd.teacher.jsonfix import StructureScan

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class JSONReplyError(ValueError):
    """The reply holds no JSON object that parses and fits the schema."""


def compact_schema(schema: Any) -> Any:
    """Drop pydantic's ``title`` strings (noise for a small model) from a JSON schema."""
    if isinstance(schema, dict):
        return {k: compact_schema(v) for k, v in schema.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [compact_schema(v) for v in schema]
    return schema


def _skeleton(schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """An example value shaped like ``schema``; leaves are ``"<type: description>"`` strings."""
    if not isinstance(schema, dict) or depth > 8:
        return "<any>"
    schema = _resolve_ref(schema, root)
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or [] if _resolve_ref(o, root).get("type") != "null"]
        if options:
            return _skeleton(options[0], root, depth + 1)
    kind = schema.get("type")
    kind = next((t for t in kind if t != "null"), None) if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _skeleton(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [_skeleton(schema.get("items", {}), root, depth + 1)]
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return "|".join(map(str, values)) if all(isinstance(v, str) for v in values) else values[0]
    desc = schema.get("description")
    label = kind or "value"
    return f"<{label}: {desc}>" if desc else f"<{label}>"


def schema_instruction(schema: dict[str, Any] | None, what: str = "your answer") -> str:
    """The instruction that asks for a JSON-only reply shaped like ``schema`` (if given).

    Small models copy an example shape far better than they read JSON Schema, so the schema
    is shown as a skeleton (``<string: description>`` leaves, ``A|B`` for enums).
    """
    text = f"Reply with {what} as one JSON object only: no prose, no markdown, no code fences."
    if schema:
        shape = json.dumps(_skeleton(schema, schema), ensure_ascii=False)
        text += f" Fill in this shape with real values (lists may have any length):\n{shape}"
    return text


def json_prefix(schema: dict[str, Any] | None) -> str:
    """The start of a JSON reply an unconstrained engine can put in the model's mouth.

    ``{"<first property>": `` (plus ``"``, ``[`` or ``{`` by its type) steers small models
    past echoing the schema; with no known properties it is just ``{``.
    """
    if not isinstance(schema, dict):
        return "{"
    resolved = _resolve_ref(schema, schema)
    props = resolved.get("properties")
    if not isinstance(props, dict) or not props:
        return "{"
    name, sub = next(iter(props.items()))
    sub = _resolve_ref(sub, schema) if isinstance(sub, dict) else {}
    opener = {"string": '"', "array": "[", "object": "{"}.get(str(sub.get("type")), "")
    if "enum" in sub or "const" in sub:
        opener = ""
    return "{" + json.dumps(name) + ": " + opener


def _close(fragment: str, stack: list[str], in_string: bool, escaped: bool) -> str:
    """Close a truncated JSON fragment: end an open string, drop a dangling ``,``/``:``."""
    if escaped:
        fragment = fragment[:-1]
    if in_string:
        fragment += '"'
    fragment = re.sub(r"[,:]\s*$", "", fragment.rstrip())
    return fragment + "".join(reversed(stack))


def _balanced_span(text: str, start: int) -> list[str]:
    """Candidates for the JSON object starting at ``text[start] == '{'``.

    A complete object gives one candidate. A truncated one (e.g. ``max_tokens`` hit) gives two:
    the text closed where it stops, and the text cut back to the last complete value.
    """
    stack: list[str] = []
    safe = (start + 1, ["}"])  # (end index, open brackets) after the last complete value
    scan = StructureScan(text, start)
    for i, ch in scan:
        if ch in "{[":
            stack.append("}" if ch == "{" else "]")
            safe = (i + 1, list(stack))
        elif ch == ",":
            safe = (i, list(stack))
        elif ch in "}]":
            if stack[-1] != ch:  # mismatched closer: treat as truncated here
                return [_close(text[start:i], stack, False, False),
                        _close(text[start:safe[0]], safe[1], False, False)]
            stack.pop()
            if not stack:
                return [text[start:i + 1]]
            safe = (i + 1, list(stack))
    return [_close(text[start:], stack, scan.in_string, scan.escaped),
            _close(text[start:safe[0]], safe[1], False, False)]


def _loads(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return json.loads(_TRAILING_COMMA.sub(r"\1", candidate))


def extract_json_object(text: str) -> dict[str, Any]:
    """Return the first JSON object in ``text`` that parses, repairing common damage.

    Handles code fences, surrounding prose, trailing commas and a truncated end (open strings
    and brackets are closed). Raises ``JSONReplyError`` when nothing parses.
    """
    last_error = "no '{' found in the reply"
    pos = text.find("{")
    while pos != -1:
        for candidate in _balanced_span(text, pos):
            try:
                value = _loads(candidate)
            except json.JSONDecodeError as exc:
                last_error = f"invalid JSON ({exc.msg} at char {exc.pos})"
                continue
            if isinstance(value, dict):
                return value
            last_error = "the JSON value is not an object"
        pos = text.find("{", pos + 1)
    raise JSONReplyError(last_error)


def closes_json_object(text: str) -> bool:
    """Whether the first JSON object of ``text`` is complete and parses: what
    ``extract_json_object`` returns from ``text`` and from anything written after it, so
    decoding can stop there (a small model often rambles on past its object)."""
    pos = text.find("{")
    if pos == -1:
        return False
    spans = _balanced_span(text, pos)
    if len(spans) != 1:  # still open
        return False
    try:
        return isinstance(_loads(spans[0]), dict)
    except json.JSONDecodeError:
        return False


def _resolve_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def schema_errors(value: Any, schema: Any, root: Any = None, path: str = "$") -> list[str]:
    """A light JSON-schema check (type, enum, const, required, properties, items, anyOf, $ref)."""
    if not isinstance(schema, dict) or not schema:
        return []
    root = schema if root is None else root
    schema = _resolve_ref(schema, root)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and all(
            schema_errors(value, opt, root, path) for opt in options
        ):
            return [f"{path}: matches none of the allowed shapes"]
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        ok = any(
            isinstance(value, _JSON_TYPES.get(t, (object,)))
            and not (t in ("integer", "number") and isinstance(value, bool))
            for t in allowed
        )
        if not ok:
            return [f"{path}: expected {'/'.join(map(str, allowed))}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing required field {name!r}")
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                errors.extend(schema_errors(value[name], sub, root, f"{path}.{name}"))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(schema_errors(item, schema["items"], root, f"{path}[{i}]"))
    return errors


def parse_json_reply(text: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Extract the JSON object from a reply and check it against ``schema``.

    Common wrappers from small models (``{"name":..,"arguments":{..}}``, ``{"properties":{..}}``)
    are unwrapped when the object itself does not fit. Raises ``JSONReplyError``.
    """
    value = extract_json_object(text)
    errors = schema_errors(value, schema)
    if not errors:
        return value
    for key in ("arguments", "parameters", "properties"):
        inner = value.get(key)
        if isinstance(inner, dict) and not schema_errors(inner, schema):
            return inner
    raise JSONReplyError("; ".join(errors[:5]))
