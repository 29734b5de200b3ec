"""The graph state: only JSON-serialisable values (paths, numbers, lists of dicts)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict


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


class LoopState(TypedDict, total=False):
    """What flows between nodes. Models live on disk; ``*_path`` fields point at them."""

    round: int  # the round being worked on (0 = the seed student)
    student_path: str  # current (= best so far) student
    candidate_path: str  # the student trained this round, before assessment
    best_dev_f1: float
    label_f1: dict[str, float]  # the best student's dev F1 per label (steers the generator)
    stale_rounds: int  # rounds since dev F1 last improved
    feedback: dict[str, list[dict[str, Any]]]  # {"correct": [...], "wrong": [...]}
    analysis: dict[str, Any]
    texts: Annotated[list[dict[str, Any]], extend_or_reset]  # generator outputs
    labelled: Annotated[list[dict[str, Any]], extend_or_reset]  # labeler outputs
    drops: Annotated[list[dict[str, Any]], extend_or_reset]  # this round's drops
    batch: list[dict[str, Any]]  # this round's accepted samples
    pool: list[dict[str, Any]]  # every accepted sample so far (synthetic.jsonl)
    history: list[dict[str, Any]]  # review-history memory, one record per round
    notes: Annotated[dict[str, Any], merge_notes]  # optional roles' outputs, by role name
    metrics: list[dict[str, Any]]  # metrics.jsonl, one record per round
    stop_reason: Annotated[str, first_reason]
