"""Generator: from the analysis, ``n`` texts with an easy, hard or plain stance (one LLM call).

Two variants share the request and differ only in the reply they ask for:

- plain (role ``generator``, :func:`generate`): texts only; the labeler labels them later.
- joint (role ``generator_labeler``, :func:`generate_labelled`; the ``--no-separate-labeling``
  ablation, the paper's "w/o separation"): the same call writes and labels each sample. Its
  replies are checked and converted like the labeler's (NER spans aligned to IOB2 tags), so
  the critic sees the same sample shape.

The ``plain`` stance is the static baseline (``--strategy static``, AugGPT/ZeroGen style): texts
for the target labels with no analysis and no history in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, field_validator

from evokd.agents.labeler import Entity
from evokd.prompts import has_template, render_messages
from evokd.prompts.formatting import (
    delimit,
    escape_data,
    example_views,
    format_samples,
    plain_description,
    truncate,
)
from evokd.samples.align import align_entities, canonical_type, tokenize
from evokd.samples.drops import MAX_WORDS, make_drop, reply_error_drop
from evokd.samples.records import Drop, Sample, Stance
from evokd.samples.texts import fit_sentences, length_problem, prompt_copy, prompt_words
from evokd.tasks.spec import TaskSpec
from evokd.teacher import Emit, LLMReplyError, TeacherClient

_PLACEHOLDER = re.compile(r"^\s*<[a-z_ ]{1,20}>\s*")
ROLE = "generator"
JOINT_ROLE = "generator_labeler"
STANCES: tuple[Stance, ...] = ("easy", "hard", "plain")
MAX_SEEDS = 3
Problem = tuple[
    Literal["empty", "too_long", "unknown_label", "span_not_found", "prompt_copy"], str
]


@dataclass(frozen=True)
class GeneratorRequest:
    """What one generator call asks for: ``n`` texts with a ``stance``, in round ``round_no``.

    ``analysis`` is the analyst's (unused by plain calls); classification calls write texts
    for ``intended_label``, NER calls aim at the entity types ``target`` (default:
    :func:`target_labels` of the stance). ``history`` (the review history, last
    ``max_history_chars`` shown) tells the generator what earlier rounds produced; ``call``
    picks a different topic hint per call so that concurrent calls with the same stance ask
    for different texts; ``seeds`` are shown as examples (up to ``MAX_SEEDS``).
    ``temperature`` overrides the client's; ``compact`` (with ``n == 1``) asks with the short
    prompt for small models, which shows no history, analysis JSON or examples, and caps the
    reply at :func:`text_reply_cap` tokens (a small model's run-on text is cut early).
    ``quotes`` (full prompts) are the student's mistakes (``text``, ``gold``, ``predicted``) a
    hard call shows, asking for new texts that pose the same difficulty in other words.
    """

    stance: Stance
    n: int
    round_no: int
    analysis: Mapping[str, Any] = field(default_factory=dict)
    call: int = 0
    intended_label: str | None = None
    target: Sequence[str] | None = None
    seeds: Sequence[Mapping[str, Any]] = ()
    history: str = ""
    max_history_chars: int = 2000
    temperature: float | None = None
    compact: bool = False
    quotes: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.stance not in STANCES:
            raise ValueError(f"stance must be 'easy', 'hard' or 'plain', not {self.stance!r}")


class Texts(BaseModel):
    """New texts, one string each."""

    texts: list[str] = Field(default_factory=list)

    @field_validator("texts", mode="before")
    @classmethod
    def _unwrap_objects(cls, texts: Any) -> Any:
        """Take the text out of ``{"text": ...}`` objects: a small model often answers a list
        of strings with objects that also carry a label."""
        if not isinstance(texts, list):
            return texts
        return [item["text"] if isinstance(item, dict) and isinstance(item.get("text"), str)
                else item for item in texts]

    @field_validator("texts")
    @classmethod
    def _strip_placeholders(cls, texts: list[str]) -> list[str]:
        """Drop a leading schema placeholder such as ``<string>`` that small models copy."""
        return [_PLACEHOLDER.sub("", text) for text in texts]


class Text(BaseModel):
    """One new text (a compact one-text call)."""

    text: str = ""

    @field_validator("text")
    @classmethod
    def _strip_placeholder(cls, text: str) -> str:
        """Drop a leading schema placeholder such as ``<string>`` that small models copy."""
        return _PLACEHOLDER.sub("", text)


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


def target_labels(task: TaskSpec, analysis: Mapping[str, Any], stance: Stance) -> list[str]:
    """Labels to aim at: the weak ones for hard texts, the others for easy ones (else all);
    every label for plain texts."""
    if stance == "plain":
        return list(task.labels)
    weak = [w for w in analysis.get("weak_labels") or [] if w in task.labels]
    if stance == "hard":
        return weak or list(task.labels)
    return [label for label in task.labels if label not in weak] or list(task.labels)


def _labelled(task: TaskSpec, item: BaseModel, max_words: int
              ) -> tuple[dict[str, Any] | None, Problem | None]:
    """A joint reply item as a labelled sample, or the reason it cannot be one."""
    text = str(getattr(item, "sentence", None) or getattr(item, "text", "")).strip()
    problem = length_problem(text, max_words)
    if problem:
        return None, problem
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


Reading = tuple[dict[str, Any], Problem | None]
"""A reply item read: ``(sample, None)``, or ``(sample shown in the drop record, problem)``."""


def _read_text(task: TaskSpec, text: str, max_words: int, prompt: str,
               meta: dict[str, Any]) -> Reading:
    """A plain reply text; one that runs past the word cap keeps its leading sentences that
    fit."""
    text = fit_sentences(text, max_words)
    problem = length_problem(text, max_words) or prompt_copy(text, prompt)
    return ({"text": text, **meta}, problem) if problem else ({"text": text.strip(), **meta}, None)


def _read_labelled(task: TaskSpec, item: BaseModel, max_words: int, prompt: str,
                   meta: dict[str, Any]) -> Reading:
    """A joint reply item: text and label (cls) or entity spans aligned to tags (NER)."""
    sample, problem = _labelled(task, item, max_words)
    if sample is not None and problem is None:
        problem = prompt_copy(sample["text"], prompt)
    if sample is None or problem is not None:
        return {**item.model_dump(), **meta}, problem
    return {**meta, **sample}, None


@dataclass(frozen=True)
class _Variant:
    """What sets the plain and the joint generator apart."""

    role: str
    template: str  # the prompt, less its "_<kind>" suffix
    schemas: Mapping[str, type[BaseModel]]  # the reply schema by task kind
    items: str  # the reply field that holds the texts or samples (a list, or one text)
    noun: str  # one item, in a retry message
    retry: str  # the end of a retry message ({n}, {max_words})
    read: Callable[[TaskSpec, Any, int, str, dict[str, Any]], Reading]


PLAIN = _Variant(
    ROLE, "generator", {"ner": Texts, "cls": Texts}, "texts", "text",
    ". Write {n} new non-empty texts of at most {max_words} words each, "
    "not copied from this conversation.", _read_text,
)
COMPACT = _Variant(
    ROLE, "generator", {"ner": Text, "cls": Text}, "text", "text",
    ". Write one new non-empty text of at most {max_words} words, "
    "not copied from this conversation.", _read_text,
)
JOINT = _Variant(
    JOINT_ROLE, "joint_generator", {"ner": NerSamples, "cls": ClsSamples}, "samples", "sample",
    ". Write {n} labelled samples as asked.", _read_labelled,
)


def text_reply_cap(max_words: int) -> int:
    """Completion tokens a one-text reply of at most ``max_words`` words needs, with room to
    spare: a reply cut there holds more words than that, so ``fit_sentences`` keeps its whole
    sentences (or the too-long text is retried), never a cut one."""
    return 2 * max_words + 16


def _items(variant: _Variant, reply: Any) -> list[Any]:
    """The texts or samples of a reply, as a list."""
    value = getattr(reply, variant.items)
    return value if isinstance(value, list) else [value]


def _variant(task: TaskSpec, n: int, joint: bool, compact: bool) -> tuple[_Variant, str]:
    """The reply variant and template of a call: joint, compact (a one-text call with compact
    prompts, where the task kind has a compact template) or plain."""
    if joint:
        return JOINT, f"{JOINT.template}_{task.kind}"
    name = f"{COMPACT.template}_{task.kind}_compact"
    if compact and n == 1 and has_template(name):
        return COMPACT, name
    return PLAIN, f"{PLAIN.template}_{task.kind}"


def request_hint(task: TaskSpec, analysis: Mapping[str, Any], stance: Stance,
                 call: int) -> tuple[str, str]:
    """What sets one call's texts apart from the others': a topic from the task's ``topics``
    (in turn; none without a list, the prompt then asks for other situations in the domain)
    and, for hard texts, one of the analysis's error patterns (in turn) to aim at."""
    topic = task.topics[call % len(task.topics)] if task.topics else ""
    patterns = [p for p in analysis.get("patterns") or [] if isinstance(p, str) and p.strip()]
    focus = patterns[call % len(patterns)] if stance == "hard" and patterns else ""
    return topic, escape_data(truncate(focus, 200))  # LLM output: never markup in a prompt


def request_messages(template: str, task: TaskSpec, request: GeneratorRequest
                     ) -> tuple[list[dict[str, str]], dict[str, Any], int]:
    """Messages, per-sample metadata and word cap of one generator call, plain or joint
    (``template``: ``generator_<kind>`` or ``joint_generator_<kind>``)."""
    analysis, stance, seeds = request.analysis, request.stance, request.seeds
    intended_label = request.intended_label
    if task.kind == "cls":
        if intended_label not in task.labels:
            raise ValueError(f"intended_label must be one of {list(task.labels)}")
        seeds = sorted(seeds, key=lambda s: s.get("label") != intended_label)
    else:
        intended_label = None
    max_words = MAX_WORDS[task.kind]
    meta = {"stance": stance, "intended_label": intended_label, "call": request.call,
            "round": request.round_no}
    analysis_view = {key: analysis.get(key) for key in ("summary", "weak_labels", "patterns")}
    topic, focus = request_hint(task, analysis, stance, request.call)
    targets = list(request.target or target_labels(task, analysis, stance))
    history = request.history
    messages = render_messages(
        template,
        task=task,
        stance=stance,
        n=request.n,
        max_words=max_words,
        target_labels=targets,
        intended_label=intended_label,
        analysis_block=(delimit(analysis_view, "analysis", max_chars=2500)
                        if stance != "plain" else ""),
        history_block=(delimit(history[-request.max_history_chars:], "history")
                       if history.strip() and stance != "plain" else ""),
        call=request.call,
        topic=topic,
        focus=focus,
        seeds_block=format_samples(example_views(task, seeds[:MAX_SEEDS]), "example"),
        quotes_block=format_samples(mistake_views(request.quotes), "mistake"),
        type_notes=[plain_description(task.label_descriptions.get(label, "")) or label
                    for label in targets],
    )

    return messages, meta, max_words


def mistake_views(mistakes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Quoted mistakes as the prompt shows them: the text, its correct label or entities, and
    what the student predicted."""
    return [{"text": m["text"], "correct": m["gold"], "student predicted": m["predicted"]}
            for m in mistakes]


async def generate(client: TeacherClient, task: TaskSpec, request: GeneratorRequest, *,
                   emit: Emit | None = None) -> tuple[list[Sample], list[Drop]]:
    """Write up to ``request.n`` texts in one LLM call (see :class:`GeneratorRequest`).

    Returns:
        ``(samples, dropped)``: samples ``{"text", "stance", "intended_label", "call",
        "round"}`` (``intended_label`` None for NER; a text that runs past the word cap keeps
        its leading sentences that fit); unusable texts (empty, too long, copied from the
        prompt) and a failed call (``malformed_reply``, raw reply kept) as drop records.
    """
    return await _write(client, task, request, joint=False, emit=emit)


async def generate_labelled(client: TeacherClient, task: TaskSpec, request: GeneratorRequest,
                            *, emit: Emit | None = None) -> tuple[list[Sample], list[Drop]]:
    """Write and label up to ``request.n`` samples in one LLM call (``--no-separate-labeling``).

    Returns:
        ``(samples, dropped)`` as :func:`generate`'s, the samples shaped like the labeler's
        output (plus ``tokens``/``tags``/``entities`` for NER or ``label`` for
        classification); an unknown label or an entity span not in the text is a drop too.
    """
    return await _write(client, task, request, joint=True, emit=emit)


async def _write(client: TeacherClient, task: TaskSpec, request: GeneratorRequest, *,
                 joint: bool, emit: Emit | None) -> tuple[list[Sample], list[Drop]]:
    """One generator call, plain or joint: ask, check each item, keep or drop it."""
    n = request.n
    variant, template = _variant(task, n, joint, request.compact)
    messages, meta, max_words = request_messages(template, task, request)
    prompt = prompt_words(messages)

    def read(item: Any) -> Reading:
        return variant.read(task, item, max_words, prompt, meta)

    def check(reply: Any) -> None:
        items = _items(variant, reply)
        problems = [f"{variant.noun} {i}: {p[1]}" for i, item in enumerate(items)
                    if (p := read(item)[1])]
        if not items or 2 * len(problems) > len(items):
            raise ValueError("; ".join(problems[:5] or [f"no {variant.noun}s"])
                             + variant.retry.format(n=n, max_words=max_words))

    try:
        reply = await client.ask(
            variant.role,
            messages,
            variant.schemas[task.kind],
            round_no=request.round_no,
            check=check,
            emit=emit,
            temperature=request.temperature,
            call_key=(f"round={request.round_no} stance={request.stance} "
                      f"label={meta['intended_label']} call={request.call}"),
            max_tokens=text_reply_cap(max_words) if variant is COMPACT else None,
        )
    except LLMReplyError as error:
        return [], [reply_error_drop(error, role=variant.role, sample=meta)]
    samples: list[Sample] = []
    dropped: list[Drop] = []
    for item in _items(variant, reply)[:n]:
        sample, problem = read(item)
        if problem:
            dropped.append(make_drop(*problem, role=variant.role, sample=sample))
        else:
            samples.append(cast(Sample, sample))  # a reply item that passed its checks
    return samples, dropped
