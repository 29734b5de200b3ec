"""``--dry-run``: what a configuration will cost, before anything is spent.

The dry run runs the loop itself: the graph of ``graph/build.py``, compiled and streamed as a run
is, with a recording teacher (``graph/recording_teacher.py``: the real teacher client with
its endpoint replaced, so the budget, validation and the ``llm_call`` accounting work as in a
run) and a stand-in student (``graph/stand_in_student.py``: a lexicon, no training) in the run
context. So every flag that changes what the loop sends is followed: strategy, separate or joint
labelling, the critic's rules (its pre-screen before labelling too) and LLM verdicts, optional
roles such as ``--reviewer``, budget routing, compact or full prompts, rounds, samples per round.
The run directory is a temporary folder, deleted afterwards; nothing is called or trained.

Tokens are counted with the teacher's tokenizer where it is on this machine (the embedded
teacher's), else at 4 characters a token, the usual rate of OpenAI-style tokenizers on English.

What it cannot know: how long the teacher's replies are (the stand-in replies are texts of the
task's train split and their gold labels, and a short analysis); validation retries (a
malformed reply costs its call again); drops that cut a round short (a generator call that
fails leaves no texts to label, a text the pre-screen drops needs no label call, a label the
critic rejects shortens the next round's feedback); HTTP failures; the real student's errors
(which feed the analyst and the hard requests); and whether patience would end the run early:
every round is counted, so the estimate is what the configured rounds spend at most.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from evokd.core.rundir import RunDir
from evokd.graph.build import build_graph
from evokd.graph.config import RunConfig
from evokd.graph.context import RunContext
from evokd.graph.recording_teacher import RecordingTeacher, StandInReplies
from evokd.graph.run import (
    THREAD,
    leak_keys_of,
    pool_of,
    seed_set_of,
    stream_run,
    teacher_settings,
)
from evokd.graph.stand_in_student import StandInStudents
from evokd.stop_reasons import BUDGET_SPENT
from evokd.tasks.data import TaskData
from evokd.teacher.ledger import TokenCounts, TokenLedger

CHARS_PER_TOKEN = 4


def approx_tokens(text: str) -> int:
    """Tokens at 4 characters a token (the documented approximation)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


@dataclass
class RoundEstimate(TokenCounts):
    """Calls (per role) and tokens of one round."""

    round: int = 0
    calls: dict[str, int] = field(default_factory=dict)


@dataclass
class Estimate:
    """What the dry run of a configuration saw: its rounds and why the loop stopped."""

    rounds: list[RoundEstimate]
    stop_reason: str


def per_round(events: Sequence[Mapping[str, Any]]) -> list[RoundEstimate]:
    """``llm_call`` events (one per attempt) summed per round and role."""
    rounds: dict[int, RoundEstimate] = {}
    for event in events:
        if event.get("event") != "llm_call":
            continue
        row = rounds.setdefault(event["round"], RoundEstimate(round=event["round"]))
        row.calls[event["role"]] = row.calls.get(event["role"], 0) + 1
        row.prompt_tokens += event["prompt_tokens"]
        row.completion_tokens += event["completion_tokens"]
    return [rounds[r] for r in sorted(rounds)]


async def _dry_run(config: RunConfig, data: TaskData, count: Callable[[str], int],
                   folder: Path) -> Estimate:
    """Run the loop for ``config`` in ``folder`` with the recording teacher and stand-in
    student."""
    spec, seed_set = config.spec, seed_set_of(config, data)
    settings = dataclasses.replace(
        teacher_settings(config, "", config.model or config.local_model or "local", ""),
        rpm=None, tpm=None)  # pacing changes when calls are sent, not what they cost
    teacher = RecordingTeacher(settings, StandInReplies(spec, data.train, seed_set, config.seed),
                               count)
    events: list[Mapping[str, Any]] = []
    teacher.record = events.append
    # the test split is only reported, and a dry run reports no scores: the stand-in is
    # scored on the dev split alone (model selection, targeting by dev F1 per label)
    leak_keys = leak_keys_of(spec, data)
    context = RunContext(config=config, spec=spec, data=dataclasses.replace(data, test=[]),
                         seed_set=seed_set, run_dir=RunDir(folder), teacher=teacher,
                         leak_keys=leak_keys, students=StandInStudents(),
                         pool=pool_of(config, data, seed_set, leak_keys))
    graph = build_graph().compile(checkpointer=InMemorySaver())
    await stream_run(graph, context, {})
    final = (await graph.aget_state(THREAD)).values
    return Estimate(per_round(events), final.get("stop_reason", ""))


def estimate_run(config: RunConfig, data: TaskData,
                 count: Callable[[str], int] = approx_tokens) -> Estimate:
    """Per-round calls and tokens of ``config`` on ``data``: the loop run with a recording
    teacher and a stand-in student (no LLM, no training; every round runs: the dev F1 that
    patience reads is the real student's, unknown here)."""
    config = dataclasses.replace(config, patience=config.rounds + 1)
    with tempfile.TemporaryDirectory(prefix="evokd-dry-run-") as folder:
        return asyncio.run(_dry_run(config, data, count, Path(folder)))


def token_counter(config: RunConfig) -> tuple[Callable[[str], int], str]:
    """The embedded teacher's own tokenizer where its weights cache is on disk, else the
    4-characters-a-token approximation; and how tokens were counted, in words."""
    if config.teacher == "local":
        try:
            from evokd.teacher.local.models import (
                DEFAULT_MODEL,
                resolve_model,
                weights_cache_dir,
            )

            folder = weights_cache_dir(resolve_model(config.local_model or DEFAULT_MODEL).sha256)
            if (folder / "tokenizer.json").is_file():
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(str(folder))
                return (lambda text: len(tokenizer(text)["input_ids"]),
                        "the local teacher's tokenizer")
        except Exception:  # noqa: BLE001 - any problem only costs the approximation
            pass
    return approx_tokens, f"{CHARS_PER_TOKEN} characters a token (approximation)"


def cost(prompt_tokens: int, completion_tokens: int, price_in: float | None,
         price_out: float | None) -> float | None:
    """Cost at ``price_in`` / ``price_out`` per million tokens (None without prices)."""
    ledger = TokenLedger()
    ledger.carry_over(prompt_tokens, completion_tokens)
    return ledger.cost(price_in, price_out)


def estimate_table(estimate: Estimate, budget: int | None,
                   prices: tuple[float | None, float | None], counted: str) -> str:
    """The dry run's printout: one line per round, the total, the cost."""
    rounds = estimate.rounds
    lines = [f"dry run: no LLM called; tokens counted with {counted}",
             "round   calls   prompt tokens   completion tokens    total" + (
                 "      cost" if prices != (None, None) else "")]
    for row in rounds:
        money = cost(row.prompt_tokens, row.completion_tokens, *prices)
        lines.append(f"{row.round:>5}  {sum(row.calls.values()):>6}  {row.prompt_tokens:>14,}"
                     f"  {row.completion_tokens:>18,}  {row.total_tokens:>7,}"
                     + (f"  {money:>8.4f}" if money is not None else ""))
    prompt = sum(r.prompt_tokens for r in rounds)
    completion = sum(r.completion_tokens for r in rounds)
    money = cost(prompt, completion, *prices)
    lines.append(f"total  {sum(sum(r.calls.values()) for r in rounds):>6}  {prompt:>14,}"
                 f"  {completion:>18,}  {prompt + completion:>7,}"
                 + (f"  {money:>8.4f}" if money is not None else ""))
    if budget is not None and estimate.stop_reason == BUDGET_SPENT and rounds:
        lines.append(f"--budget-tokens {budget:,} is spent during round {rounds[-1].round}: "
                     "the run stops there")
    return "\n".join(lines)
