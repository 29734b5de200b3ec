"""Labeler: labels ONE text per call, separately from generation.

NER replies are a sentence plus entity spans; the text is tokenised here and the spans are
aligned to IOB2 tags (``samples.align``), since models get spans right far more often than tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agents.registry import AgentRole, register
from prompts import render_messages
from prompts.formatting import delimit, example_views, format_samples
from samples.align import align_entities, canonical_type, tokenize
from samples.drops import make_drop, reply_error_drop
from tasks.spec import TaskSpec
from teacher import Emit, LLMReplyError, TeacherClient

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
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Label ``sample["text"]`` (other keys, e.g. stance and intended_label, are carried over).

    ``temperature`` overrides the client's for this call (the loop labels greedily).

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
    messages = render_messages(
        f"{ROLE}_{task.kind}",
        task=task,
        text_block=delimit(text, "sample"),
        seeds_block=format_samples(example_views(task, seeds[:MAX_SEEDS]), "example"),
    )
    try:
        if task.kind == "ner":
            example = await _label_ner(client, task, messages, tokens, round_no, emit,
                                       temperature)
        else:
            example = await _label_cls(client, task, messages, round_no, emit, temperature)
    except LLMReplyError as error:
        return [], [reply_error_drop(error, role=ROLE, sample=sample)]
    return [{**sample, "text": text, **example}], []


async def _label_ner(
    client: TeacherClient,
    task: TaskSpec,
    messages: list[dict[str, str]],
    tokens: list[str],
    round_no: int,
    emit: Emit | None,
    temperature: float | None,
) -> dict[str, Any]:
    def align(reply: NerLabels) -> tuple[list[str], list[dict[str, str]]]:
        return align_entities(tokens, [e.model_dump() for e in reply.entities], task.labels)

    def check(reply: NerLabels) -> None:
        align(reply)

    reply = await client.ask(ROLE, messages, NerLabels, round_no=round_no, check=check, emit=emit,
                             temperature=temperature)
    tags, entities = align(reply)
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


register(AgentRole(ROLE, label, (NerLabels, ClsLabel), (f"{ROLE}_ner", f"{ROLE}_cls"),
                   "labels one text per call (NER: entity spans aligned to IOB2 tags)"))
