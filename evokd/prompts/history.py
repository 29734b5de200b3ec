"""The review history as the LLM reads it: earlier rounds' records (``graph.memory``) in
bounded text."""

from __future__ import annotations

import json
from typing import Any

ROUNDS_IN_DETAIL = 3


def render_history(history: list[dict[str, Any]], max_chars: int = 3000) -> str:
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
        picked = record.get("picked")
        if picked:
            labels = ", ".join(f"{k} {v}" for k, v in picked["predicted"].items())
            lines.append(f"  picked {picked['n']} real texts ({picked['method']})"
                         + (f", the student predicting {labels}" if labels else ""))
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
