"""Joint generator: writes AND labels ``n`` samples in one call (the ``--no-separate-labeling``
ablation; the paper's "w/o separation", where the same call that writes a text labels it).

Same inputs as ``agents.generator.generate``; the replies are checked and converted like the
labeler's (NER spans aligned to IOB2 tags), so the critic sees the same sample shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.generator import Stance, generation_request, prompt_copy, prompt_words
from agents.labeler import Entity
from agents.registry import AgentRole, register
from samples.align import align_entities, canonical_type, tokenize
from samples.drops import make_drop, reply_error_drop, word_count
from tasks.spec import TaskSpec
from teacher import Emit, LLMReplyError, TeacherClient

ROLE = "generator_labeler"


class NerSample(BaseModel):
    """One sentence and its named entities."""

    sentence: str = ""
    entities: list[Entity] = Field(default_factory=list)


class NerSamples(BaseModel):
    """New labelled sentences."""

    samples: list[NerSample] = Field(default_factory=list)


class ClsSample(BaseModel):
    """One text and its label."""

    text: str = ""
    label: str = ""


class ClsSamples(BaseModel):
    """New labelled texts."""

    samples: list[ClsSample] = Field(default_factory=list)


Problem = tuple[
    Literal["empty", "too_long", "unknown_label", "span_not_found", "prompt_copy"], str
]


def _convert(task: TaskSpec, item: BaseModel, max_words: int
             ) -> tuple[dict[str, Any] | None, Problem | None]:
    """A reply item as a labelled sample, or the reason it cannot be one."""
    text = str(getattr(item, "sentence", None) or getattr(item, "text", "")).strip()
    if not text:
        return None, ("empty", "empty text")
    if word_count(text) > max_words:
        return None, ("too_long", f"{word_count(text)} words > {max_words}")
    if isinstance(item, ClsSample):
        label = canonical_type(item.label, task.labels)
        if label is None:
            return None, ("unknown_label", f"label {item.label!r} is not one of "
                          f"{list(task.labels)}")
        return {"text": text, "label": label}, None
    tokens = tokenize(text)
    spans = [e.model_dump() for e in getattr(item, "entities", [])]
    try:
        tags, entities = align_entities(tokens, spans, task.labels)
    except ValueError as error:
        return None, ("span_not_found", str(error))
    return {"text": text, "tokens": tokens, "tags": tags, "entities": entities}, None


async def generate_labelled(
    client: TeacherClient,
    task: TaskSpec,
    analysis: Mapping[str, Any],
    *,
    stance: Stance,
    n: int,
    round_no: int,
    call: int = 0,
    intended_label: str | None = None,
    target: Sequence[str] | None = None,
    seeds: Sequence[Mapping[str, Any]] = (),
    history: str = "",
    emit: Emit | None = None,
    temperature: float | None = None,
    max_history_chars: int = 2000,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Write and label up to ``n`` samples in one LLM call (``target``: as for ``generate``).

    Returns:
        ``(samples, dropped)``: samples shaped like the labeler's output (``{"text", "stance",
        "intended_label", "call", "round"}`` plus ``tokens``/``tags``/``entities`` for NER or
        ``label`` for classification); unusable items and a failed call as drop records.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    schema: type[BaseModel] = NerSamples if task.kind == "ner" else ClsSamples
    messages, meta, max_words = generation_request(
        f"joint_generator_{task.kind}", task, analysis, stance=stance, n=n, round_no=round_no,
        call=call, intended_label=intended_label, seeds=seeds, history=history,
        max_history_chars=max_history_chars, target=target,
    )
    intended_label = meta["intended_label"]
    prompt = prompt_words(messages)

    def convert(item: Any) -> tuple[dict[str, Any] | None, Problem | None]:
        sample, problem = _convert(task, item, max_words)
        copied = prompt_copy(sample["text"], prompt) if sample and not problem else None
        return (None, copied) if copied else (sample, problem)

    def check(reply: Any) -> None:
        problems = [f"sample {i}: {p[1]}" for i, item in enumerate(reply.samples)
                    if (p := convert(item)[1])]
        if not reply.samples or 2 * len(problems) > len(reply.samples):
            raise ValueError("; ".join(problems[:5] or ["no samples"])
                             + f". Write {n} labelled samples as asked.")

    try:
        reply = await client.ask(
            ROLE, messages, schema, round_no=round_no, check=check, emit=emit,
            temperature=temperature,
            call_key=f"round={round_no} stance={stance} label={intended_label} call={call}",
        )
    except LLMReplyError as error:
        return [], [reply_error_drop(error, role=ROLE, sample=meta)]
    samples, dropped = [], []
    for item in getattr(reply, "samples", [])[:n]:
        sample, problem = convert(item)
        if problem:
            dropped.append(make_drop(*problem, role=ROLE, sample={**item.model_dump(), **meta}))
        else:
            samples.append({**meta, **(sample or {})})
    return samples, dropped


register(
    AgentRole(
        name=ROLE,
        run=generate_labelled,
        schemas=(NerSamples, ClsSamples),
        prompts=("joint_generator_ner", "joint_generator_cls"),
        description="writes and labels samples in one call (--no-separate-labeling ablation)",
    )
)
