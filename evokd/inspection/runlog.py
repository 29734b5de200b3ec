"""Reading a run directory back, round by round: the one reader of ``trace``, ``view`` and
``report``.

Sources, through ``core.rundir.RunDir``: ``trace.jsonl`` (its events, ``core.trace``),
``metrics.jsonl``, ``synthetic.jsonl``, ``config.json`` and ``graph.mmd``. Every field is
optional: a run that is still going, or one stopped early, reads as far as it got. Unparsable
lines are skipped and counted. Events without a ``round`` belong to the round of the events
before them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from evokd.core import trace
from evokd.core.cli import UsageParser
from evokd.core.errors import UserError
from evokd.core.rundir import JsonDict, RunDir, read_text
from evokd.teacher.ledger import TokenCounts


@dataclass
class RoleCalls(TokenCounts):
    """LLM calls of one role (each attempt counts, retries included)."""

    calls: int = 0
    cached: int = 0
    failed: int = 0
    latency_s: float = 0.0

    def add(self, event: trace.LlmCall | JsonDict) -> None:
        """Count one ``llm_call`` event."""
        self.calls += 1
        self.cached += bool(event.get("cached"))
        self.failed += event.get("ok") is False
        self.prompt_tokens += trace.whole_number(event.get("prompt_tokens"))
        self.completion_tokens += trace.whole_number(event.get("completion_tokens"))
        self.latency_s += trace.number(event.get("latency_s"))

    def merge(self, other: RoleCalls) -> None:
        """Add the counts of ``other`` to these."""
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class RoundLog:
    """What happened in one round (round 0 is the seed student)."""

    number: int
    analysis: JsonDict | None = None
    notes: dict[str, JsonDict] = field(default_factory=dict)  # optional roles' notes, by role
    roles: dict[str, RoleCalls] = field(default_factory=dict)
    drops: list[JsonDict] = field(default_factory=list)
    generated: int | None = None
    selected: JsonDict | None = None  # --pool: the round's picks (a ``selected`` event)
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
            return {str(k): trace.whole_number(v) for k, v in reasons.items()}
        counts: dict[str, int] = {}
        for drop in self.drops:
            reason = str(drop.get("reason", "?"))
            counts[reason] = counts.get(reason, 0) + 1
        return counts

    def stance_samples(self, stance: str) -> list[JsonDict]:
        """Accepted samples of this round with ``stance`` ("easy", "hard", "plain" or
        "pool")."""
        return [s for s in self.samples if s.get("stance") == stance]

    def all_calls(self) -> RoleCalls:
        """LLM calls of this round, every role together."""
        total = RoleCalls()
        for calls in self.roles.values():
            total.merge(calls)
        return total


@dataclass
class EngineCounters:
    """What the embedded teacher did for one process of the run (a ``teacher_engine`` event):
    requests and batches, the prompt tokens its prefills read and computed (the rest came from
    a prefix shared in a batch or kept from the one before), and their seconds."""

    served: int = 0
    batches: int = 0
    prompt_tokens: int = 0
    computed_tokens: int = 0
    prefill_seconds: float = 0.0

    @classmethod
    def of(cls, event: trace.TeacherEngine | JsonDict) -> EngineCounters:
        """The counters of a ``teacher_engine`` event."""
        return cls(trace.whole_number(event.get("served")),
                   trace.whole_number(event.get("batches")),
                   trace.whole_number(event.get("prefill_prompt_tokens")),
                   trace.whole_number(event.get("prefill_computed_tokens")),
                   trace.number(event.get("prefill_seconds")))

    def summary(self) -> str:
        """In words (``main.py trace`` and ``view``): requests and batches, and how many of the
        prompt tokens read were computed."""
        text = f"{self.served} requests in {self.batches} batches"
        prompt, computed, seconds = self.prompt_tokens, self.computed_tokens, self.prefill_seconds
        if prompt and computed and seconds > 0:
            text += (f"; prompts {prompt:,} tokens, {computed:,} of them computed "
                     f"({prompt / computed:.1f}x read per token computed), prefilled in "
                     f"{seconds:.0f} s: {prompt / seconds:.0f} prompt tokens/s")
        return text


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
    teacher_engine: list[EngineCounters] = field(default_factory=list)  # one per process

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
                totals.setdefault(role, RoleCalls()).merge(calls)
        return totals


def _event_round(event: JsonDict, current: int) -> int:
    for note in _notes(event).values():  # a round-start role writes for the coming round
        if isinstance(note.get("round"), int):
            return int(note["round"])
    number = event.get("round")
    return number if isinstance(number, int) and not isinstance(number, bool) else current


def _notes(event: JsonDict) -> dict[str, JsonDict]:
    """The notes an optional role's node event carries (``review_memo``: older traces)."""
    if trace.kind(event) != trace.NODE:
        return {}
    notes = event.get("notes")
    if not isinstance(notes, dict) and isinstance(event.get("review_memo"), dict):
        notes = {"reviewer": event["review_memo"]}
    return {str(k): v for k, v in (notes or {}).items() if isinstance(v, dict)}


def enabled_roles(config: JsonDict) -> list[str]:
    """The optional roles a run's config.json switches on (``"reviewer": true``: older runs)."""
    roles = config.get("roles")
    names = [str(r) for r in roles] if isinstance(roles, list) else []
    return names + (["reviewer"] if config.get("reviewer") is True else [])


def _apply(entry: RoundLog, event: JsonDict) -> None:
    kind = trace.kind(event)
    ts = event.get("ts")
    if isinstance(ts, (int, float)):
        entry.first_ts = ts if entry.first_ts is None else min(entry.first_ts, ts)
        entry.last_ts = ts if entry.last_ts is None else max(entry.last_ts, ts)
    if kind == trace.LLM_CALL:
        entry.roles.setdefault(str(event.get("role", "?")), RoleCalls()).add(event)
    elif kind == trace.DROP:
        entry.drops.append(event)
    elif kind == trace.GENERATED:
        entry.generated = trace.whole_number(event.get("texts"))
    elif kind == trace.SELECTED:
        entry.selected = event
    elif kind == trace.FEEDBACK:
        entry.feedback_counts = {"correct": trace.whole_number(event.get("correct")),
                                 "wrong": trace.whole_number(event.get("wrong"))}
    elif kind == trace.NODE:
        node = str(event.get("node", "?"))
        entry.nodes.append(node)
        if isinstance(event.get("analysis"), dict) and event["analysis"]:
            entry.analysis = event["analysis"]
        entry.notes.update(_notes(event))
        if node in ("feedback", "evaluate") and isinstance(event.get("feedback"), dict):
            entry.feedback = event["feedback"]


def run_dir_parser(command: str, description: str) -> UsageParser:
    """The parser of a command that reads one run directory (``trace``, ``view``)."""
    parser = UsageParser(command=command, description=description)
    parser.add_argument("run_dir", help="a run directory (runs/<task>-<time>)")
    return parser


def load_run(path: Path | str) -> RunLog:
    """Read the run directory at ``path``.

    Raises:
        UserError: ``path`` is not a readable run directory (one line saying why).
    """
    run_dir = RunDir(path)
    path = run_dir.path
    if not path.exists():
        raise UserError(f"{path}: no such run directory")
    if not path.is_dir():
        raise UserError(f"{path} is not a directory; pass a run directory (runs/<task>-<time>)")
    if not run_dir.trace.exists() and not run_dir.config.exists():
        raise UserError(f"{path} is not a run directory (no trace.jsonl or config.json)")
    log = RunLog(path)
    if read_text(run_dir.config).strip():
        try:
            log.config = run_dir.read_config()
        except UserError:  # the log reads what it can; the report reads config.json strictly
            log.bad_lines += 1
    log.graph_mmd = run_dir.read_graph()

    events, bad = run_dir.read_trace()
    log.bad_lines += bad
    current = 0
    for typed in events:
        event: JsonDict = dict(typed)
        kind = trace.kind(event)
        if kind == trace.RUN_START:
            log.starts.append(event)
            continue
        if kind == trace.RUN_END:
            log.stop_reason = str(event.get("stop_reason", ""))
            continue
        if kind == trace.TEACHER_ENGINE:
            log.teacher_engine.append(EngineCounters.of(event))
            continue
        if event.get("node") == "finish":
            continue
        current = _event_round(event, current)
        _apply(log.round(current), event)

    metrics, bad = run_dir.read_metrics()
    log.bad_lines += bad
    for row in metrics:
        if isinstance(row.get("round"), int):
            log.round(row["round"]).metrics = row
    synthetic, bad = run_dir.read_synthetic()
    log.bad_lines += bad
    for sample in synthetic:
        if isinstance(sample.get("round"), int):
            log.round(sample["round"]).samples.append(sample)
    return log
