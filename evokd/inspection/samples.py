"""How a sample reads on screen: NER text in entity pieces, a short label, a dropped sample's
text. Shared by ``trace`` and ``view``."""

from __future__ import annotations

from evokd.core.rundir import JsonDict


def entity_segments(sample: JsonDict) -> list[tuple[str, str | None]]:
    """An NER sample's text as ``(text, entity type or None)`` pieces, from tokens and BIO
    tags; a sample without both gives its plain text as one piece."""
    tokens, tags = sample.get("tokens"), sample.get("tags")
    if not (isinstance(tokens, list) and isinstance(tags, list) and len(tokens) == len(tags)):
        return [(str(sample.get("text", "")), None)]
    segments: list[tuple[str, str | None]] = []
    for token, tag in zip(tokens, tags, strict=True):
        tag = str(tag)
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        last = segments[-1] if segments else None
        if kind and last and last[1] == kind and tag.startswith("I-"):
            segments[-1] = (f"{last[0]} {token}", kind)
        elif not kind and last and last[1] is None:
            segments[-1] = (f"{last[0]} {token}", None)
        else:
            segments.append((str(token), kind))
    return segments


def sample_label(sample: JsonDict) -> str:
    """A short label view: the class label, or ``"PER: Anna Berg; LOC: Oslo"`` for NER."""
    if sample.get("label") is not None:
        return str(sample["label"])
    entities = sample.get("entities")
    if isinstance(entities, list):
        return "; ".join(f"{e.get('type')}: {e.get('text')}" for e in entities
                         if isinstance(e, dict)) or "(no entities)"
    kinds = [(text, kind) for text, kind in entity_segments(sample) if kind]
    return "; ".join(f"{kind}: {text}" for text, kind in kinds) or "(no entities)"


def drop_text(drop: JsonDict) -> str:
    """The text of a dropped sample, or ``""`` when the drop concerns a whole reply."""
    sample = drop.get("sample")
    if not isinstance(sample, dict):
        return ""
    text = sample.get("text")
    if isinstance(text, str):
        return text
    tokens = sample.get("tokens")
    return " ".join(map(str, tokens)) if isinstance(tokens, list) else ""
