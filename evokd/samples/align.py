"""CoNLL-like tokenisation and alignment of entity strings to IOB2 tags.

The labeler asks the LLM for a sentence plus entity spans (``[{"text": ..., "type": ...}]``),
which small and large models get right far more often than BIO sequences. This module turns
those spans into token-level IOB2 tags. Every function accepts any input: it returns a result
or raises ``ValueError`` with a message meant to be shown to the model.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Ltd|Corp|Co|Bros|Mt|Ft|vs|Gen|Sen|Rep|Gov|Lt|Col|Sgt|Capt"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_TOKEN = re.compile(
    r"(?<!\w)(?:[A-Za-z]\.){2,}"  # U.S. e.g. a.m.
    rf"|(?<!\w)(?:{_ABBREVIATIONS})\.(?!\w)"  # Mr. Inc. Jan.
    r"|\d+(?:[.,:/-]\d+)+"  # 1996-08-22 3.5 1,000 10:30 1996/97
    r"|\w+(?:[-'’&.]\w+)*"  # words, hyphenated words, O'Neill, Amazon.com
    r"|\.{2,}|-{2,}"  # ... and --
    r"|\S"  # any other character on its own
)
_CLITIC = re.compile(r"^(\w.*?)(['’][sS]|n['’]t)$")


def tokenize(text: Any) -> list[str]:
    """Split text into CoNLL-like tokens: punctuation apart, "U.S.", "3.5", "1996-08-22" kept.

    Possessive "'s" and "n't" become separate tokens ("Germany 's", "do n't"). Non-strings give
    an empty list.
    """
    if not isinstance(text, str):
        return []
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        match = _CLITIC.match(token)
        if match and match.group(1).isalnum():
            tokens.extend(match.groups())
        else:
            tokens.append(token)
    return tokens


def _squash(text: str, fold: bool) -> str:
    text = "".join(text.split())
    return text.casefold() if fold else text


def _occurrences(tokens: Sequence[str], target: str, fold: bool) -> list[tuple[int, int]]:
    """Token spans [start, end) whose concatenation (without spaces) equals ``target``."""
    keys = [_squash(t, fold) for t in tokens]
    spans = []
    for start in range(len(keys)):
        built = ""
        for end in range(start, len(keys)):
            built += keys[end]
            if len(built) >= len(target):
                if built == target:
                    spans.append((start, end + 1))
                break
    return spans


def find_spans(tokens: Sequence[str], text: str) -> list[tuple[int, int]]:
    """All token spans matching ``text``: case-sensitive matches, else case-insensitive ones."""
    target = _squash(text, fold=False)
    if not target:
        return []
    return _occurrences(tokens, target, fold=False) or _occurrences(
        tokens, target.casefold(), fold=True
    )


def canonical_type(value: Any, labels: Collection[str]) -> str | None:
    """The label matching ``value`` exactly or case-insensitively, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value in labels:
        return value
    folded = {label.casefold(): label for label in labels}
    return folded.get(value.casefold())


def _quote(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return '"' + (text if len(text) <= limit else text[:limit] + "…") + '"'


def align_entities(
    tokens: Sequence[str], entities: Any, labels: Collection[str]
) -> tuple[list[str], list[dict[str, str]]]:
    """IOB2 tags for ``tokens`` from entity strings, plus the entities actually tagged.

    Every occurrence of each entity string is tagged; longer entities first, earlier ones win
    ties, overlapping occurrences are skipped. Entities with blank text are ignored.

    Raises:
        ValueError: naming every entity of unknown type or whose text is not in the tokens.
    """
    if not isinstance(entities, (list, tuple)):
        raise ValueError('entities must be a list of {"text": ..., "type": ...} objects')
    problems: list[str] = []
    wanted: list[tuple[int, int, str, list[tuple[int, int]]]] = []
    for position, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            problems.append(f'entity {position} is not an object with "text" and "type"')
            continue
        text, kind = entity.get("text"), canonical_type(entity.get("type"), labels)
        if not isinstance(text, str):
            problems.append(f"entity {position} has no text string")
            continue
        if not text.strip():
            continue
        if kind is None:
            allowed = ", ".join(labels)
            problems.append(
                f"{_quote(text)} has unknown type {_quote(entity.get('type'))} (allowed: {allowed})"
            )
            continue
        spans = find_spans(tokens, text)
        if not spans:
            problems.append(f"{_quote(text)} ({kind}) does not occur in the sentence")
            continue
        wanted.append((spans[0][1] - spans[0][0], -position, kind, spans))
    if problems:
        raise ValueError(
            "; ".join(problems) + ". Copy each entity text exactly as written in the sentence "
            "and use only the allowed types."
        )
    tags = ["O"] * len(tokens)
    tagged: list[tuple[int, str, str]] = []  # (start, text, type)
    for _, _, kind, spans in sorted(wanted, key=lambda w: (w[0], w[1]), reverse=True):
        for start, end in spans:
            if any(tag != "O" for tag in tags[start:end]):
                continue
            tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
            tagged.append((start, " ".join(tokens[start:end]), kind))
    return tags, [{"text": text, "type": kind} for _, text, kind in sorted(tagged)]


def validate_iob2(tags: Any, length: int, labels: Collection[str]) -> None:
    """Raise ValueError unless ``tags`` is a valid IOB2 sequence of ``length`` over ``labels``."""
    if not isinstance(tags, (list, tuple)) or len(tags) != length:
        raise ValueError(f"expected {length} tags")
    previous = "O"
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise ValueError(f"tag {i} is not a string")
        if tag != "O":
            prefix, _, kind = tag.partition("-")
            if prefix not in ("B", "I") or kind not in labels:
                raise ValueError(f"unknown tag {_quote(tag)} at position {i}")
            if prefix == "I" and previous[2:] != kind:
                raise ValueError(f"{tag} at position {i} does not continue an entity")
        previous = tag


def entities_from_tags(tokens: Sequence[str], tags: Iterable[str]) -> list[dict[str, str]]:
    """Entity spans ``[{"text", "type"}]`` read from IOB2 tags (lenient: a stray I- opens one)."""
    entities: list[dict[str, str]] = []
    current: list[str] = []
    kind = ""
    for token, tag in zip(tokens, tags, strict=False):
        tag = tag if isinstance(tag, str) else "O"
        prefix, _, tag_kind = tag.partition("-")
        if prefix == "I" and current and tag_kind == kind:
            current.append(str(token))
            continue
        if current:
            entities.append({"text": " ".join(current), "type": kind})
            current = []
        if prefix in ("B", "I") and tag_kind:
            current, kind = [str(token)], tag_kind
    if current:
        entities.append({"text": " ".join(current), "type": kind})
    return entities
