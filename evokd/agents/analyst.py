"""Analyst: from the student's right and wrong predictions, a short weakness analysis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from evokd.prompts import render, render_messages
from evokd.prompts.formatting import delimit, format_samples, truncate
from evokd.samples.align import canonical_type
from evokd.samples.records import WeaknessAnalysis
from evokd.tasks.spec import TaskSpec
from evokd.teacher import Emit, LLMReplyError, TeacherClient

ROLE = "analyst"
MAX_PATTERNS = 5


class Analysis(BaseModel):
    """Weakness analysis of the student model."""

    summary: str = ""
    weak_labels: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)


async def analyze(
    client: TeacherClient,
    task: TaskSpec,
    *,
    round_no: int,
    correct: Sequence[Mapping[str, Any]],
    wrong: Sequence[Mapping[str, Any]],
    history: str = "",
    emit: Emit | None = None,
    max_correct: int = 8,
    max_wrong: int = 16,
    max_chars: int = 300,
    max_history_chars: int = 3000,
) -> WeaknessAnalysis:
    """Analyse the student's weaknesses from samples ``{"text", "gold", "predicted"}``.

    At most ``max_correct``/``max_wrong`` samples (texts cut to ``max_chars``) and the last
    ``max_history_chars`` of ``history`` go into the prompt.

    Returns:
        ``{"summary": str, "weak_labels": [label, ...], "patterns": [str, ...],
        "fallback": bool, "error": str | None, "raw": str | None}``; when the LLM gives no
        usable reply, ``fallback`` is True and weak labels are counted from the errors.
    """
    history_tail = history[-max_history_chars:] if history else ""
    messages = render_messages(
        ROLE,
        task=task,
        round_no=round_no,
        wrong_block=format_samples(wrong, max_chars=max_chars, limit=max_wrong),
        wrong_shown=min(len(wrong), max_wrong),
        wrong_total=len(wrong),
        correct_block=format_samples(correct, max_chars=max_chars, limit=max_correct),
        correct_shown=min(len(correct), max_correct),
        correct_total=len(correct),
        history_block=delimit(history_tail, "history") if history_tail.strip() else "",
    )

    def check(reply: Analysis) -> None:
        unknown = [w for w in reply.weak_labels if canonical_type(w, task.labels) is None]
        if unknown:
            raise ValueError(
                f"weak_labels {unknown} are not in the label set; "
                f"use only: {', '.join(task.labels)}"
            )

    try:
        reply = await client.ask(
            ROLE, messages, Analysis, round_no=round_no, check=check, emit=emit
        )
    except LLMReplyError as error:
        return fallback_analysis(task, wrong, error=error.reason, raw=error.raw_text)
    weak = [canonical_type(w, task.labels) for w in reply.weak_labels]
    return {
        "summary": truncate(reply.summary.strip(), 1200),
        "weak_labels": list(dict.fromkeys(w for w in weak if w)),
        "patterns": [truncate(p.strip(), 200) for p in reply.patterns if p.strip()][:MAX_PATTERNS],
        "fallback": False,
        "error": None,
        "raw": None,
    }


def weak_labels_from_errors(task: TaskSpec, wrong: Sequence[Mapping[str, Any]]) -> list[str]:
    """Labels ranked by how often the student got them wrong (missed or falsely predicted)."""
    counts: Counter[str] = Counter()
    for sample in wrong:
        gold, predicted = sample.get("gold"), sample.get("predicted")
        if task.kind == "cls":
            counts.update(x for x in (gold, predicted) if isinstance(x, str) and x != "")
            continue
        gold_set, pred_set = _entity_set(gold), _entity_set(predicted)
        counts.update(kind for _, kind in gold_set ^ pred_set)
    return [label for label, _ in counts.most_common() if label in task.labels]


def _entity_set(entities: Any) -> set[tuple[str, str]]:
    if not isinstance(entities, (list, tuple)):
        return set()
    return {(str(e.get("text")), str(e.get("type"))) for e in entities if isinstance(e, Mapping)}


def fallback_analysis(
    task: TaskSpec, wrong: Sequence[Mapping[str, Any]], *, error: str, raw: str | None
) -> WeaknessAnalysis:
    """An analysis computed without the LLM, from the error counts."""
    weak = weak_labels_from_errors(task, wrong)
    return {
        "summary": render("_analysis_fallback", weak_labels=weak, n_wrong=len(wrong)).strip(),
        "weak_labels": weak,
        "patterns": [],
        "fallback": True,
        "error": error,
        "raw": raw,
    }
