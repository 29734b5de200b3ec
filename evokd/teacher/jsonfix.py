"""Lenient JSON extraction from LLM replies.

Models wrap JSON in markdown fences, put prose around it, leave trailing commas or write
Python-style literals. ``extract_json`` recovers the first JSON value from such text, or raises
``ValueError`` with a short reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_FENCE = re.compile(r"```[ \t]*(?:json5?|javascript|js|python)?[ \t]*\r?\n?(.*?)```", re.S | re.I)
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_DECODER = json.JSONDecoder()
_OPENER = re.compile(r"[{\[]")


def extract_json(text: str) -> Any:
    """Return the first JSON object or array found in ``text``.

    Tolerates markdown fences, leading/trailing prose, trailing commas, single-quoted strings,
    unquoted keys and Python's True/False/None. Raises ``ValueError`` when nothing parses.
    A value nested inside an unparseable (e.g. truncated) one is never returned on its own.
    """
    try:
        return _extract(text)
    except RecursionError:  # "[[[[..." from a model stuck in a loop
        raise ValueError("the reply is nested too deeply to parse") from None


def _extract(text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply is empty")
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for fence in _FENCE.finditer(stripped):  # a fenced block must be JSON as a whole
        body = fence.group(1).strip()
        for attempt in (body, repair_json(body)):
            try:
                return json.loads(attempt)
            except ValueError:
                continue
    for start in _top_level_starts(stripped)[:_MAX_STARTS]:
        tail = stripped[start:]
        for attempt in (tail, repair_json(tail)):
            try:
                value, _ = _DECODER.raw_decode(attempt)
            except ValueError:
                continue
            return value
    raise ValueError("no JSON object or array could be parsed from the reply")


_MAX_STARTS = 16


def _top_level_starts(text: str) -> list[int]:
    """Positions of '{' / '[' that are not nested inside an earlier bracket group.

    Brackets inside double-quoted strings are skipped; an unclosed group (a reply cut off)
    swallows the rest of the text, so nothing inside it counts as a start.
    """
    starts: list[int] = []
    found = _OPENER.search(text)
    while found is not None:
        starts.append(found.start())
        found = _OPENER.search(text, _group_end(text, found.start()))
    return starts


def _group_end(text: str, start: int) -> int:
    """Index just past the bracket group opening at ``start`` (len(text) if it never closes)."""
    depth = 0
    for i, ch in StructureScan(text, start):
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


class StructureScan:
    """The characters of JSON-like text outside double-quoted strings, from ``start`` on.

    Iterating yields ``(index, char)`` for every character outside string literals (their
    quotes belong to them); afterwards ``in_string`` and ``escaped`` say whether the
    text ended inside a string, just after a backslash. Shared by ``extract_json`` and the
    local teacher's ``extract_json_object``, which track brackets differently.
    """

    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.start = start
        self.in_string = False
        self.escaped = False

    def __iter__(self) -> Iterator[tuple[int, str]]:
        text = self.text
        for i in range(self.start, len(text)):
            ch = text[i]
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            else:
                yield i, ch


def repair_json(text: str) -> str:
    """Rewrite near-JSON into JSON: trailing commas, single quotes, bare keys, Python literals.

    Works left to right outside of strings, so text after the first value may be mangled; the
    caller only decodes the first value.
    """
    out: list[str] = []
    last = ""  # last non-space character emitted, to spot keys after '{' or ','
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        piece: str
        if ch == '"':
            end = _string_end(text, i, '"')
            piece, i = text[i:end], end
        elif ch == "'":
            end = _string_end(text, i, "'")
            body = text[i + 1 : end - 1] if text[end - 1 : end] == "'" else text[i + 1 : end]
            body = body.replace("\\'", "'").replace('"', '\\"')
            piece, i = f'"{body}"', end
        elif ch == ",":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            piece, i = ("" if j < n and text[j] in "}]" else ","), i + 1
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            k = j
            while k < n and text[k].isspace():
                k += 1
            is_key = k < n and text[k] == ":" and last in ("{", ",")
            piece, i = (f'"{word}"' if is_key else _PY_LITERALS.get(word, word)), j
        else:
            piece, i = ch, i + 1
        out.append(piece)
        if piece.strip():
            last = piece.strip()[-1]
    return "".join(out)


def _string_end(text: str, start: int, quote: str) -> int:
    """Index just past the string literal that opens at ``start`` (or len(text) if unclosed)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)
