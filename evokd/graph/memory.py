"""The review-history memory: one record per round, shown to the LLM in bounded form."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from evokd.graph.state import RoundRecord

WRONG_EXAMPLES = 3
ROUNDS_IN_DETAIL = 3


def round_record(
    round_no: int,
    analysis: Mapping[str, Any],
    feedback: Mapping[str, Any],
    kept: int,
    drop_reasons: dict[str, int],
    dev_f1: float | None,
) -> RoundRecord:
    """What the loop remembers of a round (all plain JSON)."""
    return {
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


def render_history(history: Sequence[Mapping[str, Any]], max_chars: int = 3000) -> str:
    """Earlier rounds as text: the last rounds in detail, older ones as one line each.

    Dev F1 stays in the records but is not rendered: dev-set results are for model
    selection only and never reach an LLM. The result never exceeds ``max_chars``
    (oldest lines go first).
    """
    lines: list[str] = []
    detailed = history[-ROUNDS_IN_DETAIL:]
    for record in history[: len(history) - len(detailed)]:
        lines.append(
            f"Round {record['round']}: weak {', '.join(record['weak_labels']) or '-'}; "
            f"kept {record['kept']}, dropped {record['dropped']}"
        )
    for record in detailed:
        counts = ", ".join(
            f"{label} {c['correct']} right / {c['wrong']} wrong"
            for label, c in record["per_label"].items()
        )
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(record["drop_reasons"].items()))
        lines.append(f"Round {record['round']}:")
        lines.append(f"  analysis: {record['analysis']}")
        lines.append(f"  weak labels: {', '.join(record['weak_labels']) or '-'}")
        lines.append(f"  student on the round's samples: {counts or '-'}")
        for example in record["wrong_examples"]:
            lines.append(f"  student error: {json.dumps(example, ensure_ascii=False)[:300]}")
        lines.append(
            f"  samples kept {record['kept']}, dropped {record['dropped']}"
            + (f" ({reasons})" if reasons else "")
        )
    text = "\n".join(lines)
    while len(text) > max_chars and "\n" in text:
        text = text.split("\n", 1)[1]
    return text[-max_chars:]


def round_history(state: Mapping[str, Any], round_no: int) -> str:
    """Earlier rounds as the analyst and generator see them: a round-start role's note for this
    round when it has a ``text`` (the reviewer's memo with ``--reviewer``), else the rendered
    review history."""
    for _, note in sorted((state.get("notes") or {}).items()):
        if isinstance(note, dict) and note.get("round") == round_no and note.get("text"):
            return str(note["text"])
    return render_history(state.get("history", []))
