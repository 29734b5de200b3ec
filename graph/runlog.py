"""Reading a run directory back, round by round, for ``trace`` and ``view``.

Sources: ``trace.jsonl`` (node updates, LLM calls, drops, feedback), ``metrics.jsonl``,
``synthetic.jsonl``, ``config.json`` and ``graph.mmd``. Every field is optional: a run that is
still going, or one stopped early, reads as far as it got. Unparsable lines are skipped and
counted. Events without a ``round`` belong to the round of the events before them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.errors import UserError

JsonDict = dict[str, Any]


@dataclass
class RoleCalls:
    """LLM calls of one role (each attempt counts, retries included)."""

    calls: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, event: JsonDict) -> None:
        """Count one ``llm_call`` event."""
        self.calls += 1
        self.cached += bool(event.get("cached"))
        self.failed += event.get("ok") is False
        self.prompt_tokens += _int(event.get("prompt_tokens"))
        self.completion_tokens += _int(event.get("completion_tokens"))
        self.latency_s += _float(event.get("latency_s"))


@dataclass
class RoundLog:
    """What happened in one round (round 0 is the seed student)."""

    number: int
    analysis: JsonDict | None = None
    review: JsonDict | None = None  # the reviewer's memo (--reviewer)
    roles: dict[str, RoleCalls] = field(default_factory=dict)
    drops: list[JsonDict] = field(default_factory=list)
    generated: int | None = None
    feedback_counts: JsonDict | None = None  # {"correct": n, "wrong": n}
    feedback: JsonDict | None = None  # {"correct": [...], "wrong": [...]} samples
    metrics: JsonDict | None = None
    samples: list[JsonDict] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    first_ts: float | None = None
    last_ts: float | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from the round's first to its last event."""
        if self.first_ts is None or self.last_ts is None:
            return None
        return self.last_ts - self.first_ts

    def drop_reasons(self) -> dict[str, int]:
        """Drops per reason: from metrics when the round finished, else from the trace."""
        reasons = (self.metrics or {}).get("drop_reasons")
        if isinstance(reasons, dict) and reasons:
            return {str(k): _int(v) for k, v in reasons.items()}
        counts: dict[str, int] = {}
        for drop in self.drops:
            reason = str(drop.get("reason", "?"))
            counts[reason] = counts.get(reason, 0) + 1
        return counts

    def stance_samples(self, stance: str) -> list[JsonDict]:
        """Accepted samples of this round with ``stance`` ("easy" or "hard")."""
        return [s for s in self.samples if s.get("stance") == stance]


@dataclass
class RunLog:
    """A run directory read back."""

    path: Path
    config: JsonDict = field(default_factory=dict)
    rounds: list[RoundLog] = field(default_factory=list)
    starts: list[JsonDict] = field(default_factory=list)
    stop_reason: str = ""
    graph_mmd: str = ""
    bad_lines: int = 0

    def round(self, number: int) -> RoundLog:
        """The round ``number``, created when first seen."""
        for entry in self.rounds:
            if entry.number == number:
                return entry
        entry = RoundLog(number)
        self.rounds.append(entry)
        self.rounds.sort(key=lambda r: r.number)
        return entry

    def total_calls(self) -> dict[str, RoleCalls]:
        """LLM calls per role over the whole run."""
        totals: dict[str, RoleCalls] = {}
        for entry in self.rounds:
            for role, calls in entry.roles.items():
                total = totals.setdefault(role, RoleCalls())
                for name in ("calls", "cached", "failed", "prompt_tokens", "completion_tokens"):
                    setattr(total, name, getattr(total, name) + getattr(calls, name))
                total.latency_s += calls.latency_s
        return totals


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _read_jsonl(path: Path) -> tuple[list[JsonDict], int]:
    rows, bad = [], 0
    for line in _read_text(path).splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def _event_round(event: JsonDict, current: int) -> int:
    if event.get("event") == "node" and event.get("node") == "reviewer":
        memo = event.get("review_memo")
        if isinstance(memo, dict) and isinstance(memo.get("round"), int):
            return memo["round"]
    number = event.get("round")
    return number if isinstance(number, int) and not isinstance(number, bool) else current


def _apply(entry: RoundLog, event: JsonDict) -> None:
    kind = event.get("event")
    ts = event.get("ts")
    if isinstance(ts, (int, float)):
        entry.first_ts = ts if entry.first_ts is None else min(entry.first_ts, ts)
        entry.last_ts = ts if entry.last_ts is None else max(entry.last_ts, ts)
    if kind == "llm_call":
        entry.roles.setdefault(str(event.get("role", "?")), RoleCalls()).add(event)
    elif kind == "drop":
        entry.drops.append(event)
    elif kind == "generated":
        entry.generated = _int(event.get("texts"))
    elif kind == "feedback":
        entry.feedback_counts = {"correct": _int(event.get("correct")),
                                 "wrong": _int(event.get("wrong"))}
    elif kind == "node":
        node = str(event.get("node", "?"))
        entry.nodes.append(node)
        if isinstance(event.get("analysis"), dict) and event["analysis"]:
            entry.analysis = event["analysis"]
        if isinstance(event.get("review_memo"), dict):
            entry.review = event["review_memo"]
        if node in ("feedback", "evaluate") and isinstance(event.get("feedback"), dict):
            entry.feedback = event["feedback"]


def load_run(path: Path | str) -> RunLog:
    """Read the run directory at ``path``.

    Raises:
        UserError: ``path`` is not a readable run directory (one line saying why).
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such run directory")
    if not path.is_dir():
        raise UserError(f"{path} is not a directory; pass a run directory (runs/<task>-<time>)")
    if not (path / "trace.jsonl").exists() and not (path / "config.json").exists():
        raise UserError(f"{path} is not a run directory (no trace.jsonl or config.json)")
    log = RunLog(path)
    config_text = _read_text(path / "config.json")
    try:
        config = json.loads(config_text) if config_text.strip() else {}
    except json.JSONDecodeError:
        config, log.bad_lines = {}, log.bad_lines + 1
    log.config = config if isinstance(config, dict) else {}
    log.graph_mmd = _read_text(path / "graph.mmd")

    events, bad = _read_jsonl(path / "trace.jsonl")
    log.bad_lines += bad
    current = 0
    for event in events:
        kind = event.get("event")
        if kind == "run_start":
            log.starts.append(event)
            continue
        if kind == "run_end":
            log.stop_reason = str(event.get("stop_reason", ""))
            continue
        if event.get("node") == "finish":
            continue
        current = _event_round(event, current)
        _apply(log.round(current), event)

    metrics, bad = _read_jsonl(path / "metrics.jsonl")
    log.bad_lines += bad
    for row in metrics:
        if isinstance(row.get("round"), int):
            log.round(row["round"]).metrics = row
    synthetic, bad = _read_jsonl(path / "synthetic.jsonl")
    log.bad_lines += bad
    for sample in synthetic:
        if isinstance(sample.get("round"), int):
            log.round(sample["round"]).samples.append(sample)
    return log


def entity_segments(sample: JsonDict) -> list[tuple[str, str | None]]:
    """An NER sample's text as ``(text, entity type or None)`` pieces, from tokens and BIO
    tags; a sample without both gives its plain text as one piece."""
    tokens, tags = sample.get("tokens"), sample.get("tags")
    if not (isinstance(tokens, list) and isinstance(tags, list) and len(tokens) == len(tags)):
        return [(str(sample.get("text", "")), None)]
    segments: list[tuple[str, str | None]] = []
    for token, tag in zip(tokens, tags, strict=True):
        tag = str(tag)
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        last = segments[-1] if segments else None
        if kind and last and last[1] == kind and tag.startswith("I-"):
            segments[-1] = (f"{last[0]} {token}", kind)
        elif not kind and last and last[1] is None:
            segments[-1] = (f"{last[0]} {token}", None)
        else:
            segments.append((str(token), kind))
    return segments


def sample_label(sample: JsonDict) -> str:
    """A short label view: the class label, or ``"PER: Anna Berg; LOC: Oslo"`` for NER."""
    if sample.get("label") is not None:
        return str(sample["label"])
    entities = sample.get("entities")
    if isinstance(entities, list):
        return "; ".join(f"{e.get('type')}: {e.get('text')}" for e in entities
                         if isinstance(e, dict)) or "(no entities)"
    kinds = [(text, kind) for text, kind in entity_segments(sample) if kind]
    return "; ".join(f"{kind}: {text}" for text, kind in kinds) or "(no entities)"


def drop_text(drop: JsonDict) -> str:
    """The text of a dropped sample, or ``""`` when the drop concerns a whole reply."""
    sample = drop.get("sample")
    if not isinstance(sample, dict):
        return ""
    text = sample.get("text")
    if isinstance(text, str):
        return text
    tokens = sample.get("tokens")
    return " ".join(map(str, tokens)) if isinstance(tokens, list) else ""
