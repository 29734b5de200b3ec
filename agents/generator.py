"""Generator: from the analysis, ``n`` plain texts with an easy or hard stance (one LLM call).

The ``plain`` stance is the static baseline (``--strategy static``, AugGPT/ZeroGen style): texts
for the target labels with no analysis and no history in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agents.registry import AgentRole, register
from prompts import render_messages
from prompts.formatting import delimit, escape_data, example_views, format_samples, truncate
from samples.drops import MAX_WORDS, make_drop, reply_error_drop, word_count
from samples.rules import normalise
from tasks.spec import TaskSpec
from teacher import Emit, LLMReplyError, TeacherClient

_PLACEHOLDER = re.compile(r"^\s*<[a-z_ ]{1,20}>\s*")
ROLE = "generator"
Stance = Literal["easy", "hard", "plain"]
MAX_SEEDS = 3


class Texts(BaseModel):
    """New texts, one string each."""

    texts: list[str] = Field(default_factory=list)

    @field_validator("texts")
    @classmethod
    def _strip_placeholders(cls, texts: list[str]) -> list[str]:
        """Drop a leading schema placeholder such as ``<string>`` that small models copy."""
        return [_PLACEHOLDER.sub("", text) for text in texts]


def target_labels(task: TaskSpec, analysis: Mapping[str, Any], stance: Stance) -> list[str]:
    """Labels to aim at: the weak ones for hard texts, the others for easy ones (else all);
    every label for plain texts."""
    if stance == "plain":
        return list(task.labels)
    weak = [w for w in analysis.get("weak_labels") or [] if w in task.labels]
    if stance == "hard":
        return weak or list(task.labels)
    return [label for label in task.labels if label not in weak] or list(task.labels)


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


def _problem(text: str, max_words: int,
             prompt: str = "") -> tuple[Literal["empty", "too_long", "prompt_copy"], str] | None:
    if not text.strip():
        return "empty", "empty text"
    if word_count(text) > max_words:
        return "too_long", f"{word_count(text)} words > {max_words}"
    return prompt_copy(text, prompt)


def request_hint(task: TaskSpec, analysis: Mapping[str, Any], stance: Stance,
                 call: int) -> tuple[str, str]:
    """What sets one call's texts apart from the others': a topic from the task's ``topics``
    (in turn; none without a list, the prompt then asks for other situations in the domain)
    and, for hard texts, one of the analysis's error patterns (in turn) to aim at."""
    topic = task.topics[call % len(task.topics)] if task.topics else ""
    patterns = [p for p in analysis.get("patterns") or [] if isinstance(p, str) and p.strip()]
    focus = patterns[call % len(patterns)] if stance == "hard" and patterns else ""
    return topic, escape_data(truncate(focus, 200))  # LLM output: never markup in a prompt


def generation_request(
    template: str,
    task: TaskSpec,
    analysis: Mapping[str, Any],
    *,
    stance: Stance,
    n: int,
    round_no: int,
    call: int,
    intended_label: str | None,
    seeds: Sequence[Mapping[str, Any]],
    history: str,
    max_history_chars: int,
    target: Sequence[str] | None = None,
) -> tuple[list[dict[str, str]], dict[str, Any], int]:
    """Messages, per-sample metadata and word cap of one generator call (also used by the
    joint generator of ``--no-separate-labeling``). ``target`` (NER): the entity types this
    call aims at, instead of :func:`target_labels`."""
    if task.kind == "cls":
        if intended_label not in task.labels:
            raise ValueError(f"intended_label must be one of {list(task.labels)}")
        seeds = sorted(seeds, key=lambda s: s.get("label") != intended_label)
    else:
        intended_label = None
    max_words = MAX_WORDS[task.kind]
    meta = {"stance": stance, "intended_label": intended_label, "call": call, "round": round_no}
    analysis_view = {key: analysis.get(key) for key in ("summary", "weak_labels", "patterns")}
    topic, focus = request_hint(task, analysis, stance, call)
    messages = render_messages(
        template,
        task=task,
        stance=stance,
        n=n,
        max_words=max_words,
        target_labels=list(target or target_labels(task, analysis, stance)),
        intended_label=intended_label,
        analysis_block=(delimit(analysis_view, "analysis", max_chars=2500)
                        if stance != "plain" else ""),
        history_block=(delimit(history[-max_history_chars:], "history")
                       if history.strip() and stance != "plain" else ""),
        call=call,
        topic=topic,
        focus=focus,
        seeds_block=format_samples(example_views(task, seeds[:MAX_SEEDS]), "example"),
    )

    return messages, meta, max_words


async def generate(
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
    """Write up to ``n`` texts in one LLM call; classification calls target ``intended_label``,
    NER calls the entity types ``target`` (default: :func:`target_labels` of the stance).

    ``history`` (the review history, last ``max_history_chars`` shown) tells the generator what
    earlier rounds produced; ``call`` picks a different topic hint per call so that concurrent
    calls with the same stance ask for different texts.

    Returns:
        ``(samples, dropped)``: samples ``{"text", "stance", "intended_label", "call",
        "round"}`` (``intended_label`` None for NER; a text that runs past the word cap keeps
        its leading sentences that fit); dropped texts (empty, too long, copied from the prompt)
        and a failed call
        (``malformed_reply``, raw reply kept) as drop records.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if stance not in ("easy", "hard", "plain"):
        raise ValueError(f"stance must be 'easy', 'hard' or 'plain', not {stance!r}")
    messages, meta, max_words = generation_request(
        f"{ROLE}_{task.kind}", task, analysis, stance=stance, n=n, round_no=round_no, call=call,
        intended_label=intended_label, seeds=seeds, history=history,
        max_history_chars=max_history_chars, target=target,
    )
    intended_label = meta["intended_label"]
    prompt = prompt_words(messages)

    def check(reply: Texts) -> None:
        problems = [
            f"text {i}: {p[1]}"
            for i, t in enumerate(reply.texts)
            if (p := _problem(fit_sentences(t, max_words), max_words, prompt))
        ]
        if not reply.texts or 2 * len(problems) > len(reply.texts):
            raise ValueError(
                "; ".join(problems[:5] or ["no texts"])
                + f". Write {n} new non-empty texts of at most {max_words} words each, "
                "not copied from this conversation."
            )

    try:
        reply = await client.ask(
            ROLE,
            messages,
            Texts,
            round_no=round_no,
            check=check,
            emit=emit,
            temperature=temperature,
            call_key=f"round={round_no} stance={stance} label={intended_label} call={call}",
        )
    except LLMReplyError as error:
        return [], [reply_error_drop(error, role=ROLE, sample=meta)]
    samples, dropped = [], []
    for text in reply.texts[:n]:
        text = fit_sentences(text, max_words)
        problem = _problem(text, max_words, prompt)
        if problem:
            dropped.append(make_drop(*problem, role=ROLE, sample={"text": text, **meta}))
        else:
            samples.append({"text": text.strip(), **meta})
    return samples, dropped


register(
    AgentRole(
        name=ROLE,
        run=generate,
        schemas=(Texts,),
        prompts=(f"{ROLE}_ner", f"{ROLE}_cls"),
        description="writes easy or hard plain texts aimed at the student's weaknesses",
    )
)
