"""Tagging schemes: IOB1, IOB2 and BIOES (or BILOU) tag sequences, normalised to IOB2.

The scheme is decided per file: any ``E-``/``S-``/``L-``/``U-`` tag means BIOES; more
entities opened by ``I-`` (after ``O`` or another type) than by ``B-`` means IOB1; otherwise
the file is IOB2 and its tags are kept exactly as written. Type names may hold ``-``
(``B-creative-work`` is type ``creative-work``).
"""

from __future__ import annotations

from evokd.tasks.spec import Example

PREFIXES = frozenset("BIESLU")


def tag_type(tag: str) -> str | None:
    """The entity type of ``B-TYPE`` / ``I-TYPE`` / ... (None for ``O`` or a malformed tag)."""
    prefix, dash, kind = tag.partition("-")
    return kind if dash and prefix in PREFIXES and kind else None


def _opens_with_i(tags: list[str]) -> int:
    """How many entities in ``tags`` start with an ``I-`` tag (IOB1 style)."""
    count, previous = 0, None
    for tag in tags:
        kind = tag_type(tag)
        if tag.startswith("I-") and kind != previous:
            count += 1
        previous = kind
    return count


def scheme(sentences: list[Example]) -> str:
    """``"bioes"``, ``"iob1"`` or ``"iob2"`` for a file's sentences (see the module docstring)."""
    tags = [t for ex in sentences for t in ex["tags"]]
    if any(t[:2] in ("E-", "S-", "L-", "U-") for t in tags):
        return "bioes"
    opened_by_i = sum(_opens_with_i(ex["tags"]) for ex in sentences)
    opened_by_b = sum(t.startswith("B-") for t in tags)
    return "iob1" if opened_by_i > opened_by_b else "iob2"


def to_iob2(tags: list[str]) -> list[str]:
    """One sentence's IOB1 or BIOES tags as IOB2 (an entity starts with ``B-``)."""
    out: list[str] = []
    previous: str | None = None  # type of the open entity, None outside one
    for tag in tags:
        kind = tag_type(tag)
        if kind is None:
            out.append(tag)
            previous = None
            continue
        prefix = tag[0]
        continues = prefix in "IEL" and previous == kind
        out.append(("I-" if continues else "B-") + kind)
        previous = None if prefix in "ESLU" else kind
    return out


def normalise_tags(sentences: list[Example]) -> list[Example]:
    """The sentences with IOB2 tags (IOB2 input is returned unchanged)."""
    if scheme(sentences) == "iob2":
        return sentences
    return [{**ex, "tags": to_iob2(ex["tags"])} for ex in sentences]
