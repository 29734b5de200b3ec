"""A toy optional role with no LLM call, as a user's own counter would be: its module (this
file) and one registration (``register_tally``); no prompt, no reply schema.

The tally runs after the critic when ``--tally`` is given and leaves, as the round's note, how
many accepted samples each label (classification) or entity type (NER) got.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from evokd.agents.registry import AgentRole, register
from evokd.samples.align import entities_from_tags

ROLE = "tally"


async def tally(batch: list[Mapping[str, Any]], *, round_no: int) -> dict[str, Any]:
    """Accepted samples per label in ``batch``; the round's note."""
    counts: Counter[str] = Counter()
    for sample in batch:
        if "label" in sample:
            counts[str(sample["label"])] += 1
        else:
            counts.update(e["type"] for e in entities_from_tags(sample.get("tokens") or [],
                                                               sample.get("tags") or []))
    text = ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "nothing"
    return {"round": round_no, "text": f"tally: {text}", "counts": dict(counts)}


async def tally_node(state: Mapping[str, Any], runtime: Any) -> dict[str, Any]:
    """After the critic: count the round's accepted batch (no teacher needed)."""
    return {"notes": {ROLE: await tally(list(state.get("batch") or []),
                                        round_no=state["round"])}}


def register_tally() -> AgentRole:
    """The one registration: no reply schemas and no prompts, since it asks no LLM."""
    return register(AgentRole(ROLE, tally, (), (), "counts each round's accepted samples",
                              node=tally_node, stage="after_critic",
                              switch="a tally counts each accepted batch per label"))
