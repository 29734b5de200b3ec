"""Trace events: every kind of line in a run's ``trace.jsonl``, made here and read back by
these names (the loop, the teacher client and the agents write them; ``trace``, ``view`` and
``report`` read them).

Each event is a JSON object with ``event`` (its kind) and ``ts`` (added when it is written,
``RunDir.append_trace``); most carry the loop ``round`` they belong to. Readers must take any
field as possibly missing: a trace written by an older version, or cut short by a killed
process, still reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast

from typing_extensions import NotRequired

LLM_CALL = "llm_call"
DROP = "drop"
GENERATED = "generated"
FEEDBACK = "feedback"
TRUNCATED = "truncated"
ENTITIES_LEFT_OUT = "entities_left_out"
NODE = "node"
RUN_START = "run_start"
RUN_END = "run_end"
TEACHER_ENGINE = "teacher_engine"
SELECTED = "selected"
KINDS = (LLM_CALL, DROP, GENERATED, FEEDBACK, TRUNCATED, ENTITIES_LEFT_OUT, NODE, RUN_START,
         RUN_END, TEACHER_ENGINE, SELECTED)


class LlmCall(TypedDict):
    """One attempt of a teacher call, answered or not (retries are attempts of their own)."""

    event: Literal["llm_call"]
    role: str
    round: int
    attempt: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    ok: bool
    error: str | None  # why the attempt's reply was not usable
    raw: NotRequired[str]  # the unusable reply's text (cut short)


class Drop(TypedDict):
    """A sample (or a whole reply) left out, and why (``samples.drops``)."""

    event: Literal["drop"]
    round: int
    reason: str
    detail: str
    role: str
    sample: dict[str, Any] | None
    raw: str | None


class Generated(TypedDict):
    """How many texts the round's generator calls wrote together."""

    event: Literal["generated"]
    round: int
    texts: int


class Selected(TypedDict):
    """Texts picked from the pool for labelling: how (``typical``, ``uncertain`` or
    ``random``), out of how many scored texts, in how many seconds, and the student's predicted
    labels of the picks (NER: entity types, ``none`` for a text without one)."""

    event: Literal["selected"]
    round: int
    method: str
    picked: int
    scanned: int
    seconds: float
    predicted: dict[str, int]


class Feedback(TypedDict):
    """How many of the round's samples the student predicted right and wrong."""

    event: Literal["feedback"]
    round: int
    correct: int
    wrong: int


class Truncated(TypedDict, total=False):
    """Texts cut at the student's max length, per split (only the splits with any)."""

    event: Literal["truncated"]
    round: int
    max_length: int
    seed: int
    train: int
    dev: int
    test: int
    batch: int


class EntitiesLeftOut(TypedDict):
    """Entities of a labeler reply that were not in the text or not of the task's types."""

    event: Literal["entities_left_out"]
    role: str
    round: int
    text: str
    entities: list[dict[str, Any]]


class NodeUpdate(TypedDict, total=False):
    """A graph node's state update, its long lists counted instead of copied; the other keys
    are the update's own (``round``, ``analysis``, ``notes``, ``feedback``, ...)."""

    event: Literal["node"]
    node: str
    round: int


class RunStart(TypedDict):
    """A process started (or resumed) the run."""

    event: Literal["run_start"]
    resume: bool
    task: str


class RunEnd(TypedDict):
    """The loop stopped, and why."""

    event: Literal["run_end"]
    round: int
    stop_reason: str


class TeacherEngine(TypedDict, total=False):
    """What the embedded teacher did for one process of the run."""

    event: Literal["teacher_engine"]
    engine: str
    served: int
    batches: int
    batched_requests: int
    prefill_prompt_tokens: int
    prefill_computed_tokens: int
    prefill_seconds: float


TraceEvent = (LlmCall | Drop | Generated | Selected | Feedback | Truncated | EntitiesLeftOut
              | NodeUpdate | RunStart | RunEnd | TeacherEngine)
ENGINE_COUNTERS = ("engine", "served", "batches", "batched_requests", "prefill_prompt_tokens",
                   "prefill_computed_tokens", "prefill_seconds")
SUMMARISED = ("texts", "labelled", "drops", "batch", "pool", "history", "metrics", "picked")


def llm_call(role: str, round_no: int, attempt: int, *, prompt_tokens: int = 0,
             completion_tokens: int = 0, latency_s: float = 0.0, cached: bool = False,
             error: str | None = None, raw: str | None = None) -> LlmCall:
    """An ``llm_call`` event (``ok`` when there is no ``error``; ``raw``: the failed reply)."""
    event = LlmCall(event="llm_call", role=role, round=round_no, attempt=attempt,
                    prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    latency_s=round(latency_s, 4), cached=cached, ok=error is None, error=error)
    if raw is not None:
        event["raw"] = raw
    return event


def drop(round_no: int, dropped: Mapping[str, Any]) -> Drop:
    """A ``drop`` event for a drop record (``samples.drops.make_drop``)."""
    return cast(Drop, {"event": DROP, "round": round_no, **dropped})


def generated(round_no: int, texts: int) -> Generated:
    """A ``generated`` event."""
    return Generated(event="generated", round=round_no, texts=texts)


def selected(round_no: int, method: str, picked: int, scanned: int, seconds: float,
             predicted: Mapping[str, int]) -> Selected:
    """A ``selected`` event."""
    return Selected(event="selected", round=round_no, method=method, picked=picked,
                    scanned=scanned, seconds=round(seconds, 2), predicted=dict(predicted))


def feedback(round_no: int, correct: int, wrong: int) -> Feedback:
    """A ``feedback`` event."""
    return Feedback(event="feedback", round=round_no, correct=correct, wrong=wrong)


def truncated(round_no: int, max_length: int, counts: Mapping[str, int]) -> Truncated:
    """A ``truncated`` event: texts cut per split (``counts``: split -> texts)."""
    event = Truncated(event="truncated", round=round_no, max_length=max_length)
    event.update(counts)  # type: ignore[typeddict-item]
    return event


def entities_left_out(role: str, round_no: int, text: str,
                      entities: list[dict[str, Any]]) -> EntitiesLeftOut:
    """An ``entities_left_out`` event."""
    return EntitiesLeftOut(event="entities_left_out", role=role, round=round_no, text=text,
                           entities=entities)


def node_update(node: str, update: Any) -> NodeUpdate:
    """A ``node`` event for a node's state update; long lists are counted, not copied."""
    event: dict[str, Any] = {"event": "node", "node": node}
    if isinstance(update, dict):
        for key, value in update.items():
            event[key] = len(value) if key in SUMMARISED and isinstance(value, list) else value
    return cast(NodeUpdate, event)


def run_start(resume: bool, task: str) -> RunStart:
    """A ``run_start`` event."""
    return RunStart(event="run_start", resume=resume, task=task)


def run_end(round_no: int, stop_reason: str) -> RunEnd:
    """A ``run_end`` event."""
    return RunEnd(event="run_end", round=round_no, stop_reason=stop_reason)


def teacher_engine(counters: Mapping[str, Any]) -> TeacherEngine:
    """A ``teacher_engine`` event from the embedded teacher's counters (the known ones)."""
    event = TeacherEngine(event="teacher_engine")
    event.update({key: counters[key] for key in ENGINE_COUNTERS  # type: ignore[typeddict-item]
                  if key in counters})
    return event


def kind(event: Mapping[str, Any]) -> str:
    """The event's kind (one of ``KINDS``, or ``""`` for a line that names none)."""
    value = event.get("event")
    return value if isinstance(value, str) else ""


def whole_number(value: Any) -> int:
    """A field read back as a count: an int (not a bool), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def number(value: Any) -> float:
    """A field read back as a number: an int or float (not a bool), else 0.0."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
