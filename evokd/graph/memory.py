"""The review-history memory: one record per round (shown to the LLM by ``prompts.history``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evokd.graph.state import RoundRecord, Selection
from evokd.prompts.history import render_history

WRONG_EXAMPLES = 3


def round_record(
    round_no: int,
    analysis: Mapping[str, Any],
    feedback: Mapping[str, Any],
    kept: int,
    drop_reasons: dict[str, int],
    dev_f1: float | None,
    selection: Selection | None = None,
) -> RoundRecord:
    """What the loop remembers of a round (all plain JSON); with ``--pool``, what it picked."""
    record: RoundRecord = {
        "round": round_no,
        "analysis": str(analysis.get("summary", ""))[:600],
        "weak_labels": list(analysis.get("weak_labels", [])),
        "per_label": feedback.get("per_label", {}),
        "wrong_examples": feedback.get("wrong", [])[:WRONG_EXAMPLES],
        "kept": kept,
        "dropped": sum(drop_reasons.values()),
        "drop_reasons": drop_reasons,
        "dev_f1": dev_f1,
    }
    if selection:
        record["picked"] = selection
    return record


def round_history(state: Mapping[str, Any], round_no: int) -> str:
    """Earlier rounds as the analyst and generator see them: a round-start role's note for this
    round when it has a ``text`` (the reviewer's memo with ``--reviewer``), else the rendered
    review history."""
    for _, note in sorted((state.get("notes") or {}).items()):
        if isinstance(note, dict) and note.get("round") == round_no and note.get("text"):
            return str(note["text"])
    return render_history(state.get("history", []))
