"""A toy optional agent role, kept outside agents/ as a user's own role would be: its module
(this file), its prompt (``scout.j2`` beside it) and one registration (``register_scout``).

The scout runs after the critic (stage ``after_critic``) when ``--scout`` is given, asks the
teacher what the accepted batch lacks and leaves its answer as the round's note.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evokd.agents.registry import AgentRole, register
from evokd.prompts import add_prompt_dir, render_messages
from evokd.prompts.formatting import delimit
from evokd.samples.rules import sample_text
from evokd.stop_reasons import BUDGET_SPENT
from evokd.tasks.spec import TaskSpec
from evokd.teacher import BudgetExhausted, Emit, TeacherClient

ROLE = "scout"


class Gap(BaseModel):
    """What the batch lacks, in one sentence."""

    gap: str


async def scout(client: TeacherClient, task: TaskSpec, batch: list[dict[str, Any]], *,
                round_no: int, emit: Emit | None = None) -> dict[str, Any]:
    """Ask the teacher what ``batch`` lacks; the round's note."""
    messages = render_messages(
        ROLE, task=task, round_no=round_no, kept=len(batch),
        samples_block=delimit("\n".join(sample_text(s) for s in batch), "samples"))
    reply = await client.ask(ROLE, messages, Gap, round_no=round_no, emit=emit)
    return {"round": round_no, "text": f"scout: {reply.gap}"}


async def scout_node(state: Mapping[str, Any], runtime: Any) -> dict[str, Any]:
    """After the critic: one scout call on the round's accepted batch."""
    ctx = runtime.context
    try:
        note = await scout(ctx.require_teacher(), ctx.spec, list(state.get("batch") or []),
                           round_no=state["round"], emit=runtime.stream_writer)
    except BudgetExhausted:
        return {"stop_reason": BUDGET_SPENT}
    return {"notes": {ROLE: note}}


def register_scout() -> AgentRole:
    """The one registration (a role under agents/ does this at import instead)."""
    add_prompt_dir(Path(__file__).parent)
    return register(AgentRole(ROLE, scout, (Gap,), (ROLE,), "names what a batch lacks",
                              node=scout_node, stage="after_critic",
                              switch="a scout names what each accepted batch lacks"))
