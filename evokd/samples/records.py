"""The plain-data records a round passes along: samples, drops, the student's feedback and the
analyst's analysis. They are TypedDicts (plain dicts at run time), so they fit the graph state,
the checkpoints and the JSONL files unchanged."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Stance = Literal["easy", "hard", "plain", "pool"]  # pool: a text picked from --pool


class EntitySpan(TypedDict):
    """A named entity of an NER sample: its text in the sentence and its type."""

    text: str
    type: str


class Sample(TypedDict, total=False):
    """A sample on its way through a round: a generator's text (``text``, ``stance``,
    ``intended_label``, ``call``, ``round``), then labelled (NER: ``tokens``, ``tags``,
    ``entities``; classification: ``label``), then kept by the critic."""

    text: str
    stance: Stance
    intended_label: str | None  # classification: the class the generator aimed at
    call: int  # the generator call that wrote it (its number in the round; a pool text's index)
    round: int
    tokens: list[str]
    tags: list[str]  # IOB2
    entities: list[EntitySpan]
    label: str


class Drop(TypedDict):
    """Why a sample was left out (see ``samples.drops``); ``raw`` holds a failed LLM reply."""

    reason: str
    detail: str
    role: str
    sample: dict[str, Any] | None
    raw: str | None


class FeedbackItem(TypedDict):
    """The student on one sample: gold and predicted label (classification) or entity lists
    (NER)."""

    text: str
    gold: Any
    predicted: Any


class LabelCounts(TypedDict):
    """Per label: gold mentions found (correct) and missed or spurious ones (wrong)."""

    correct: int
    wrong: int


class Feedback(TypedDict, total=False):
    """The student's right and wrong predictions on a set of samples."""

    correct: list[FeedbackItem]
    wrong: list[FeedbackItem]
    per_label: dict[str, LabelCounts]
    seed_wrong: list[FeedbackItem]  # --quote-errors: the seed set's mistakes, quotable too


class WeaknessAnalysis(TypedDict, total=False):
    """The analyst's analysis (empty for the static baseline). ``fallback``: computed from the
    error counts because the LLM gave no usable reply (``error`` and ``raw`` say why)."""

    summary: str
    weak_labels: list[str]
    patterns: list[str]
    fallback: bool
    error: str | None
    raw: str | None
