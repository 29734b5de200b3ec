"""The graph state: only JSON-serialisable values (paths, numbers, lists of dicts), each typed
here as a TypedDict (a plain dict at run time, so checkpoints and JSONL files hold it as is)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from typing_extensions import NotRequired

from evokd.samples.records import (
    Drop,
    Feedback,
    FeedbackItem,
    Sample,
    Stance,
    WeaknessAnalysis,
)


def extend_or_reset(current: list[Any] | None, update: list[Any] | None) -> list[Any]:
    """Reducer for fan-in lists: parallel writers append; ``None`` clears for a new round."""
    if update is None:
        return []
    return (current or []) + update


def merge_notes(current: dict[str, Any] | None, update: dict[str, Any] | None
                ) -> dict[str, Any]:
    """Reducer for ``notes``: each optional role writes its own entry."""
    return {**(current or {}), **(update or {})}


def first_reason(current: str | None, update: str | None) -> str:
    """Reducer for ``stop_reason``: parallel nodes may all report; the first reason stays."""
    return current or update or ""


class Selection(TypedDict):
    """A round's picks from the pool: how, how many, and the labels the student predicted
    for them (NER: entity types, ``none`` for a text without one)."""

    method: str
    n: int
    predicted: dict[str, int]


class RoundRecord(TypedDict):
    """The review history's memory of one round (``graph.memory.round_record``)."""

    round: int
    analysis: str  # the analysis summary, cut short
    weak_labels: list[str]
    per_label: dict[str, Any]  # the student on the round's samples, per label
    wrong_examples: list[Any]
    kept: int
    dropped: int
    drop_reasons: dict[str, int]
    dev_f1: float | None  # model selection only: never rendered for the LLM
    picked: NotRequired[Selection]  # --pool: what the round picked, and how


class _MetricsCore(TypedDict):
    round: int
    dev_f1: float
    test_f1: float | None  # None without a test split
    per_label_f1: dict[str, float]
    dev_per_label_f1: dict[str, float]
    tokens: int
    kept: int
    dropped: int
    best: bool


class MetricsRow(_MetricsCore, total=False):
    """One metrics.jsonl row; the optional keys appear where they apply."""

    per_label_split: str  # "dev" when the task has no test split
    cost: float  # with --price-in / --price-out
    dev_accuracy: float  # classification
    test_accuracy: float | None
    drop_reasons: dict[str, int]  # rounds 1+


class GeneratorJob(TypedDict):
    """One generator call of a round, as the loop plans it (``graph.targeting``); the node
    turns it into an ``agents.generator.GeneratorRequest``."""

    round: int
    stance: Stance
    analysis: WeaknessAnalysis
    n: int  # texts asked
    call: int  # the call's number (picks its topic hint and its seed)
    intended_label: str | None  # classification: the class to write texts for
    target: list[str] | None  # NER: the entity types to aim at (None: the stance's default)
    history: str  # the review history as the generator sees it
    quotes: list[FeedbackItem]  # hard calls under --quote-errors: the mistakes shown


class LabelerJob(TypedDict):
    """One labeler call: a generated text to label."""

    sample: Sample
    round: int


class LoopState(TypedDict, total=False):
    """What flows between nodes. Models live on disk; ``*_path`` fields point at them."""

    round: int  # the round being worked on (0 = the seed student)
    student_path: str  # current (= best so far) student, relative to the run folder
    candidate_path: str  # the student trained this round, before assessment (relative)
    best_dev_f1: float
    label_f1: dict[str, float]  # the best student's dev F1 per label (steers the generator)
    stale_rounds: int  # rounds since dev F1 last improved
    feedback: Feedback
    analysis: WeaknessAnalysis
    texts: Annotated[list[Sample], extend_or_reset]  # generator outputs
    labelled: Annotated[list[Sample], extend_or_reset]  # labeler outputs
    drops: Annotated[list[Drop], extend_or_reset]  # this round's drops
    quoted: Annotated[list[str], extend_or_reset]  # texts of every mistake quoted so far
    picked: list[int]  # --pool: indices of every pool text picked so far
    selection: Selection  # --pool: this round's picks
    batch: list[Sample]  # this round's accepted samples
    pool: list[Sample]  # every accepted sample so far (synthetic.jsonl)
    history: list[RoundRecord]  # review-history memory, one record per round
    notes: Annotated[dict[str, Any], merge_notes]  # optional roles' outputs, by role name
    metrics: list[MetricsRow]  # metrics.jsonl, one record per round
    stop_reason: Annotated[str, first_reason]
