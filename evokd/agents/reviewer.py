"""Reviewer: condenses the review history of earlier rounds into a short memo (one LLM call).

An optional role (a plugin): with ``--reviewer`` its node runs at the start of rounds 2+ and
its note's ``text`` replaces the raw history in the analyst's and the generator's prompts;
without a usable reply the raw history stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from evokd.agents.registry import AgentRole, register
from evokd.prompts import render, render_messages
from evokd.prompts.formatting import delimit, truncate
from evokd.prompts.history import render_history
from evokd.samples.drops import word_count
from evokd.stop_reasons import BUDGET_SPENT
from evokd.tasks.spec import TaskSpec
from evokd.teacher import BudgetExhausted, Emit, LLMReplyError, TeacherClient

ROLE = "reviewer"
MAX_WORDS = 120
MAX_LESSONS = 5


class Memo(BaseModel):
    """The reviewer's condensed view of the earlier rounds."""

    memo: str = ""
    lessons: list[str] = Field(default_factory=list)


async def review(
    client: TeacherClient,
    task: TaskSpec,
    *,
    round_no: int,
    history: str,
    emit: Emit | None = None,
    max_history_chars: int = 8000,
) -> dict[str, Any]:
    """Condense ``history`` (rendered review history) into a memo for round ``round_no``.

    Returns:
        ``{"round": round_no, "memo": str, "lessons": [str, ...], "text": str,
        "fallback": bool, "error": str | None, "raw": str | None}``. ``text`` is what goes
        into the next prompts (the memo and lessons, rendered); it is ``""`` when the LLM
        gave no usable reply (``fallback`` True), and the raw history should be used instead.
    """
    messages = render_messages(
        ROLE,
        task=task,
        round_no=round_no,
        max_words=MAX_WORDS,
        max_lessons=MAX_LESSONS,
        history_block=delimit(history[-max_history_chars:], "history"),
    )

    def check(reply: Memo) -> None:
        if not reply.memo.strip():
            raise ValueError('"memo" is empty; write the memo as one non-empty string.')
        if word_count(reply.memo) > 2 * MAX_WORDS:
            raise ValueError(f'"memo" has {word_count(reply.memo)} words; use at most '
                             f"{MAX_WORDS}.")

    try:
        reply = await client.ask(ROLE, messages, Memo, round_no=round_no, check=check, emit=emit)
    except LLMReplyError as error:
        return {"round": round_no, "memo": "", "lessons": [], "text": "", "fallback": True,
                "error": error.reason, "raw": error.raw_text}
    memo = truncate(reply.memo.strip(), 1200)
    lessons = [truncate(x.strip(), 200) for x in reply.lessons if x.strip()][:MAX_LESSONS]
    text = render("_review_memo", memo=memo, lessons=lessons, last_round=round_no - 1).strip()
    return {"round": round_no, "memo": memo, "lessons": lessons, "text": text,
            "fallback": False, "error": None, "raw": None}


async def reviewer_node(state: Mapping[str, Any], runtime: Any) -> dict[str, Any]:
    """Before rounds 2+: condense the review history into the round's note."""
    ctx = runtime.context
    round_no = state["round"] + 1
    ctx.progress.phase(f"round {round_no}: reviewer")
    try:
        memo = await review(
            ctx.require_teacher(), ctx.spec, round_no=round_no,
            history=render_history(state.get("history", []), max_chars=8000),
            emit=runtime.stream_writer,
        )
    except BudgetExhausted:
        return {"stop_reason": BUDGET_SPENT}
    return {"notes": {ROLE: memo}}


register(AgentRole(
    ROLE, review, (Memo,), (ROLE,), "condenses the review history into a short memo",
    node=reviewer_node, stage="round_start", when=lambda state: bool(state.get("history")),
    switch="a reviewer role condenses the review history into a short memo that the analyst "
    "and generator read instead of the raw history (one extra LLM call per round from round 2)",
))
