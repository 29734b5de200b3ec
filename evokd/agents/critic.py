"""Critic: rule checks (``samples.rules``) and then an LLM verdict on the labels."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator

from evokd.prompts import render_messages
from evokd.prompts.formatting import example_views, format_samples
from evokd.samples.drops import make_drop, reply_error_drop
from evokd.samples.records import Drop, Sample
from evokd.samples.rules import RuleCritic, leak_check
from evokd.tasks.spec import TaskSpec
from evokd.teacher import Emit, LLMReplyError, TeacherClient

ROLE = "critic"


class Verdict(BaseModel):
    """The verdict on one sample."""

    index: int
    ok: bool
    reason: str = ""


class Verdicts(BaseModel):
    """One verdict per sample index."""

    verdicts: list[Verdict] = Field(default_factory=list)

    @field_validator("verdicts", mode="before")
    @classmethod
    def _bare_booleans(cls, value: Any) -> Any:
        """Accept ``[true, false, ...]`` (small models often drop the objects) as verdicts."""
        if isinstance(value, list) and value and all(isinstance(v, bool) for v in value):
            return [{"index": i, "ok": v} for i, v in enumerate(value)]
        return value


async def criticize(
    client: TeacherClient,
    task: TaskSpec,
    samples: Sequence[Mapping[str, Any]],
    *,
    round_no: int,
    seeds: Sequence[Mapping[str, Any]] = (),
    seen: Collection[str] = frozenset(),
    leak_keys: Collection[str] = frozenset(),
    near: Sequence[str] = (),
    use_llm: bool = True,
    rules: bool = True,
    batch_size: int = 8,
    keep_unverified: bool = False,
    emit: Emit | None = None,
    temperature: float | None = None,
) -> tuple[list[Sample], list[Drop]]:
    """Check labelled samples: rules first, then (``use_llm``) an LLM verdict per batch.

    ``seen`` and ``leak_keys`` hold ``samples.rules.text_key`` hashes of earlier samples and of
    the dev/test texts; a sample that nearly repeats one of the ``near`` texts (quoted mistakes,
    earlier samples) is a ``near_duplicate``. A batch whose verdict call fails is dropped as
    ``malformed_reply`` (kept instead when ``keep_unverified``). ``rules=False`` (the
    ``--no-critic`` ablation) skips every check but the leakage check, which always runs, and
    the LLM verdict.
    ``batch_size`` samples share one verdict call; ``temperature`` overrides the client's.

    Returns:
        ``(kept, dropped)``: kept samples unchanged; drops ``{"reason", "detail", "role",
        "sample", "raw"}``.
    """
    if not rules:
        return leak_check(samples, leak_keys)
    rule_critic = RuleCritic(task, seeds=seeds, seen=set(seen), leak_keys=leak_keys, near=near)
    kept, dropped = rule_critic.filter(samples)
    if not use_llm or not kept:
        return kept, dropped
    batches = [kept[i : i + batch_size] for i in range(0, len(kept), batch_size)]
    results = await asyncio.gather(
        *(_judge(client, task, batch, round_no, emit, temperature) for batch in batches),
        return_exceptions=True,
    )
    verified: list[Sample] = []
    for batch, result in zip(batches, results, strict=True):
        if isinstance(result, LLMReplyError):
            if keep_unverified:
                verified.extend(batch)
            else:
                dropped.extend(reply_error_drop(result, role=ROLE, sample=s) for s in batch)
        elif isinstance(result, BaseException):
            raise result
        else:
            for sample, verdict in zip(batch, result, strict=True):
                if verdict.ok:
                    verified.append(sample)
                else:
                    reason = verdict.reason.strip() or "judged wrong"
                    dropped.append(make_drop("llm_rejected", reason, role=ROLE, sample=sample))
    return verified, dropped


async def _judge(
    client: TeacherClient,
    task: TaskSpec,
    batch: list[Sample],
    round_no: int,
    emit: Emit | None,
    temperature: float | None,
) -> list[Verdict]:
    """One verdict per sample of ``batch``, in order."""
    messages = render_messages(
        f"{ROLE}_{task.kind}",
        task=task,
        n=len(batch),
        samples_block=format_samples(example_views(task, batch)),
    )

    def check(reply: Verdicts) -> None:
        indexes = [v.index for v in reply.verdicts]
        missing = sorted(set(range(len(batch))) - set(indexes))
        extra = sorted({i for i in indexes if not 0 <= i < len(batch)})
        if missing or extra:
            raise ValueError(
                f"missing verdicts for indexes {missing}; unknown indexes {extra}. "
                f"Give exactly one verdict for each index from 0 to {len(batch) - 1}."
            )

    reply = await client.ask(ROLE, messages, Verdicts, round_no=round_no, check=check, emit=emit,
                             temperature=temperature)
    by_index = {v.index: v for v in reply.verdicts}
    return [by_index[i] for i in range(len(batch))]
