"""Labeler: labels ONE text per call, separately from generation.

NER replies are a sentence plus entity spans; the text is tokenised here and the spans are
aligned to IOB2 tags (``samples.align``), since models get spans right far more often than tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, Field

from evokd.core import trace
from evokd.prompts import render_messages
from evokd.prompts.formatting import delimit, example_views, format_samples
from evokd.samples.align import (
    align_entities,
    canonical_type,
    entities_from_tags,
    find_spans,
    tokenize,
)
from evokd.samples.drops import make_drop, reply_error_drop
from evokd.samples.records import Drop, Sample
from evokd.tasks.spec import TaskSpec
from evokd.teacher import Emit, LLMReplyError, TeacherClient
from evokd.teacher.events import emit_event

ROLE = "labeler"
MAX_SEEDS = 3


class Entity(BaseModel):
    """One named entity: its exact text in the sentence and its type."""

    text: str
    type: str


class NerLabels(BaseModel):
    """The sentence and the named entities found in it."""

    sentence: str = ""
    entities: list[Entity] = Field(default_factory=list)


class ClsLabel(BaseModel):
    """The label of the text."""

    label: str


async def label(
    client: TeacherClient,
    task: TaskSpec,
    sample: Mapping[str, Any],
    *,
    round_no: int,
    seeds: Sequence[Mapping[str, Any]] = (),
    emit: Emit | None = None,
    temperature: float | None = None,
    compact: bool = False,
) -> tuple[list[Sample], list[Drop]]:
    """Label ``sample["text"]`` (other keys, e.g. stance and intended_label, are carried over).

    ``temperature`` overrides the client's for this call (the loop labels greedily);
    ``compact`` (a small model) caps an NER reply at :func:`ner_reply_cap` tokens (one that
    loops, repeating entities, is cut off early) and leaves out entities outside the task
    instead of failing the reply (see ``Scope``; each left-out list is an
    ``entities_left_out`` trace event).

    Returns:
        ``([example], [])`` or ``([], [drop])``. NER example: ``{..., "text", "tokens",
        "tags", "entities": [{"text", "type"}]}`` (IOB2 tags, entities as tagged);
        classification: ``{..., "text", "label"}``.
    """
    text = sample.get("text")
    if not isinstance(text, str):
        return [], [make_drop("malformed_sample", "no text string", role=ROLE, sample=sample)]
    text = text.strip()
    tokens = tokenize(text)
    if not tokens:
        return [], [make_drop("empty", "empty text", role=ROLE, sample=sample)]
    messages = label_messages(task, text, seeds)
    try:
        if task.kind == "ner":
            scope = Scope(task, compact and names_capitalised(seeds), compact)
            example = await label_ner(client, task, messages, tokens, scope,
                                      round_no=round_no, emit=emit, temperature=temperature)
        else:
            example = await _label_cls(client, task, messages, round_no, emit, temperature)
    except LLMReplyError as error:
        return [], [reply_error_drop(error, role=ROLE, sample=sample)]
    return [cast(Sample, {**sample, "text": text, **example})], []


def label_messages(task: TaskSpec, text: str,
                   seeds: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The messages of one label call: ``text`` with up to ``MAX_SEEDS`` seed examples."""
    return render_messages(
        f"{ROLE}_{task.kind}",
        task=task,
        text_block=delimit(text, "sample"),
        seeds_block=format_samples(example_views(task, seeds[:MAX_SEEDS]), "example"),
    )


def ner_reply_cap(text: str) -> int:
    """Completion tokens an NER label reply for ``text`` needs at most: the sentence copied
    (about 4 characters a token) and a dozen entities, with room to spare."""
    return 192 + len(text) // 2


def names_capitalised(seeds: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the seed examples mark only capitalised names (a proper-name task such as
    CoNLL-2003: a span without a capital letter is then never an entity of the task)."""
    spans = [e["text"] for seed in seeds
             for e in entities_from_tags(seed.get("tokens") or [], seed.get("tags") or [])]
    return bool(spans) and all(any(c.isupper() for c in span) for span in spans)


@dataclass(frozen=True)
class Scope:
    """What an NER label reply may hold. ``compact`` (a small model): entities outside the task
    (a type it does not have, or, where ``capitalised``, a span without a capital letter) and
    entities that are not in the sentence are left out instead of failing the reply, as long as
    one listed entity is in it (a reply none of whose entities is in the sentence labelled some
    other text, and still fails); the reply is capped at ``ner_reply_cap`` tokens."""

    task: TaskSpec
    capitalised: bool
    compact: bool

    def split(self, tokens: list[str], entities: list[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], list[Any]]:
        """``(entities to align, entities left out)``."""
        if not self.compact:
            return entities, []
        keep, out, missing = [], [], []
        for entity in entities:
            text = str(entity.get("text") or "")
            spans = find_spans(tokens, text) if text.strip() else []
            if canonical_type(entity.get("type"), self.task.labels) is None or (
                    self.capitalised and spans and not any(  # as written in the sentence
                        c.isupper() for a, b in spans for c in "".join(tokens[a:b]))):
                out.append(entity)
            elif text.strip() and not spans:
                missing.append(entity)
            else:
                keep.append(entity)
        if missing and not keep:  # fails in align_entities, naming what is not in the text
            return missing, out
        return keep, out + missing


async def label_ner(
    client: TeacherClient,
    task: TaskSpec,
    messages: list[dict[str, str]],
    tokens: list[str],
    scope: Scope,
    *,
    round_no: int,
    emit: Emit | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    """One NER label call (``messages`` from :func:`label_messages`): tokens, IOB2 tags and the
    entities as tagged. The reply copies the sentence before its entities: the embedded
    teacher's labels of 48 CoNLL-2003 dev sentences scored 0.43 entity F1 with the copy and
    0.32 without it (BENCHMARKS.md)."""
    def align(reply: NerLabels) -> tuple[list[str], list[dict[str, str]]]:
        keep, _ = scope.split(tokens, [e.model_dump() for e in reply.entities])
        return align_entities(tokens, keep, task.labels)

    def check(reply: NerLabels) -> None:
        align(reply)

    cap = ner_reply_cap(" ".join(tokens)) if scope.compact else None
    reply = await client.ask(ROLE, messages, NerLabels, round_no=round_no, check=check,
                             emit=emit, temperature=temperature, max_tokens=cap)
    keep, left_out = scope.split(tokens, [e.model_dump() for e in reply.entities])
    tags, entities = align_entities(tokens, keep, task.labels)
    if left_out:
        emit_event(emit, trace.entities_left_out(ROLE, round_no, " ".join(tokens), left_out))
    return {"tokens": tokens, "tags": tags, "entities": entities}


async def _label_cls(
    client: TeacherClient,
    task: TaskSpec,
    messages: list[dict[str, str]],
    round_no: int,
    emit: Emit | None,
    temperature: float | None,
) -> dict[str, Any]:
    def check(reply: ClsLabel) -> None:
        if canonical_type(reply.label, task.labels) is None:
            raise ValueError(
                f"label {reply.label!r} is not allowed; use exactly one of: "
                + ", ".join(task.labels)
            )

    reply = await client.ask(ROLE, messages, ClsLabel, round_no=round_no, check=check, emit=emit,
                             temperature=temperature)
    return {"label": canonical_type(reply.label, task.labels)}
