"""Checks on generated texts: cutting a run-on text to the sentences that fit the word cap,
an empty or too long text, a text copied from the generator's own prompt."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from evokd.samples.drops import word_count
from evokd.samples.rules import normalise

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Inc|Corp|Ltd|Co|Gen|Sen|Rep|Gov|Prof|No|vs)|\b[A-Z])\.$"
)


def sentences(text: str) -> list[str]:
    """``text`` split after sentence-ending punctuation (not after common abbreviations)."""
    parts: list[str] = []
    for piece in _SENTENCE_BREAK.split(text.strip()):
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def fit_sentences(text: str, max_words: int) -> str:
    """The leading whole sentences of ``text`` that fit in ``max_words`` words: small models
    often run on past the one sentence asked for. ``text`` itself when it fits, or when even
    its first sentence is too long."""
    if word_count(text) <= max_words:
        return text
    kept: list[str] = []
    for sentence in sentences(text):
        if word_count(" ".join([*kept, sentence])) > max_words:
            break
        kept.append(sentence)
    return " ".join(kept) if kept else text


def prompt_words(messages: Sequence[Mapping[str, str]]) -> str:
    """The normalised words of a request's messages (for ``copied_from_prompt``)."""
    return normalise(" ".join(m.get("content", "") for m in messages))


def copied_from_prompt(text: str, prompt: str) -> bool:
    """Whether ``text`` (three words or more) occurs word for word in the normalised
    ``prompt``: small models copy the format example, a style example or the analysis."""
    norm = normalise(text)
    return len(norm.split()) >= 3 and f" {norm} " in f" {prompt} "


def prompt_copy(text: str, prompt: str) -> tuple[Literal["prompt_copy"], str] | None:
    """The ``prompt_copy`` drop reason when ``text`` is copied from ``prompt``, else None."""
    if prompt and copied_from_prompt(text, prompt):
        return "prompt_copy", "the text occurs in the generator's prompt"
    return None


def length_problem(text: str, max_words: int) -> tuple[Literal["empty", "too_long"], str] | None:
    """The ``empty`` or ``too_long`` drop reason when ``text`` is either, else None."""
    if not text.strip():
        return "empty", "empty text"
    if word_count(text) > max_words:
        return "too_long", f"{word_count(text)} words > {max_words}"
    return None
