"""``--dry-run``: what a configuration will cost, before anything is spent.

Every round's prompts are rendered by the real agent code (analyst, generator calls, one labeler
call per text, critic batches; the optional roles switched on, e.g. ``--reviewer``, through
their own nodes) against a recording teacher that calls no LLM: it answers each request with a
plausible reply built from the task's own train texts (generator texts, their gold labels, "ok"
verdicts, a short analysis; a sentence per text field for other roles). Prompt and
completion tokens are counted with the teacher's tokenizer where it is on this machine (the
embedded teacher's), else at 4 characters a token, the usual rate of OpenAI-style tokenizers on
English; schemas sent outside the messages (json_schema, function calling) are counted too.
Later rounds carry the review history as the loop would build it from these replies. Not
modelled: validation retries (a malformed reply costs its call again), texts the critic's rules
drop, and the student's real errors (round 1's analysis sees the seed set as all wrong).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from pydantic import BaseModel

from evokd.agents.analyst import analyze
from evokd.agents.critic import criticize
from evokd.agents.generator import generate
from evokd.agents.labeler import label
from evokd.agents.registry import optional_roles
from evokd.graph.config import RunConfig
from evokd.graph.context import RunContext
from evokd.graph.feedback import split_feedback
from evokd.graph.memory import round_history, round_record
from evokd.graph.progress import ProgressDisplay
from evokd.graph.state import LoopState, RoundRecord
from evokd.graph.strategy import plan
from evokd.graph.targeting import generator_jobs, generator_request
from evokd.samples.align import entities_from_tags
from evokd.samples.records import Feedback, WeaknessAnalysis
from evokd.tasks.spec import Example, TaskSpec
from evokd.teacher.client import TeacherClient, _json_schema
from evokd.teacher.ledger import TokenLedger
from evokd.teacher.settings import TeacherSettings

CHARS_PER_TOKEN = 4
_SAMPLE = re.compile(r"<sample(?: index=\"\d+\")?>(.*?)</sample>", re.S)
_COUNT = re.compile(r"Write (\d+)")
_CRITIC_COUNT = re.compile(r"Samples \((\d+)")


def approx_tokens(text: str) -> int:
    """Tokens at 4 characters a token (the documented approximation)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


@dataclass
class RoundEstimate:
    """Calls and tokens of one round."""

    round: int
    calls: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class RecordingTeacher:
    """Stands in for the teacher client: renders requests exactly as sent, counts their tokens
    and answers from the task's own data, without calling any LLM."""

    def __init__(self, spec: TaskSpec, stand_ins: Sequence[Example], settings: TeacherSettings,
                 count: Callable[[str], int]) -> None:
        self.spec, self.count = spec, count
        self.stand_ins = list(stand_ins)
        self.by_text = {spec.example_text(ex): ex for ex in self.stand_ins}
        self._shaper = TeacherClient(settings)  # only its request_messages (no connection)
        self._next = 0
        self.rounds: dict[int, RoundEstimate] = {}

    async def ask(self, role: str, messages: list[dict[str, str]], schema: type[BaseModel], *,
                  round_no: int, **_: Any) -> Any:
        """Record one request and answer it plausibly (see the module docstring)."""
        convo = self._shaper.request_messages(messages, schema)
        prompt = "".join(m["content"] for m in convo)
        if self._shaper.settings.structured_method != "json_object":
            prompt += json.dumps(_json_schema(schema), separators=(",", ":"))
        reply = self._reply(role, "\n".join(m["content"] for m in messages), schema)
        value = schema.model_validate(reply)
        row = self.rounds.setdefault(round_no, RoundEstimate(round_no))
        row.calls[role] = row.calls.get(role, 0) + 1
        row.prompt_tokens += self.count(prompt)
        row.completion_tokens += self.count(json.dumps(reply, ensure_ascii=False))
        return value

    def _texts(self, n: int) -> list[str]:
        texts = [self.spec.example_text(self.stand_ins[(self._next + i) % len(self.stand_ins)])
                 for i in range(n)]
        self._next += n
        return texts

    def _reply(self, role: str, text: str, schema: type[BaseModel]) -> dict[str, Any]:
        labels = list(self.spec.labels)
        if role == "analyst":
            return {"summary": "The student misses most entities of the weaker labels and "
                    "confuses similar ones; it finds frequent, clearly marked cases.",
                    "weak_labels": labels[:1], "patterns": ["names at the start of a "
                                                            "sentence", "multi-word names"]}
        if role == "generator":
            if "text" in schema.model_fields:  # a compact one-text call
                return {"text": self._texts(1)[0]}
            found = _COUNT.search(text)
            return {"texts": self._texts(int(found.group(1)) if found else 4)}
        if role == "labeler":
            sample = _SAMPLE.findall(text)
            example = self.by_text.get(sample[-1].strip() if sample else "")
            if self.spec.kind == "cls":
                return {"label": example["label"] if example else labels[0]}
            entities = entities_from_tags(example["tokens"], example["tags"]) if example else []
            return {"sentence": sample[-1].strip() if sample else "", "entities": entities}
        if role == "critic":
            found = _CRITIC_COUNT.search(text)
            n = int(found.group(1)) if found else 1
            return {"verdicts": [{"index": i, "ok": True, "reason": ""} for i in range(n)]}
        return stand_in(schema)


STAND_IN_TEXT = ("Earlier rounds improved the student on frequent labels; keep writing varied "
                 "texts for the weak labels.")


def stand_in(schema: type[BaseModel]) -> dict[str, Any]:
    """A plausible reply of another role (an optional one): a sentence in every text field,
    two in every list of texts; other fields keep their defaults."""
    reply: dict[str, Any] = {}
    for name, spec in schema.model_fields.items():
        if spec.annotation is str:
            reply[name] = STAND_IN_TEXT
        elif spec.annotation == list[str]:
            reply[name] = [STAND_IN_TEXT, STAND_IN_TEXT]
    return reply


async def run_stage(ctx: Any, stage: str, state: dict[str, Any]) -> dict[str, Any]:
    """Run the optional roles of ``stage`` that are on (as the loop's router would) and return
    the notes they wrote."""
    runtime = SimpleNamespace(context=ctx, stream_writer=lambda event: None)
    notes: dict[str, Any] = {}
    for role in optional_roles(stage):
        if role.due(ctx.config, state) and role.node is not None:
            update = await role.node(state, runtime)
            notes.update(update.get("notes") or {})
            state = {**state, "notes": {**(state.get("notes") or {}), **notes}}
    return notes


def _all_wrong(spec: TaskSpec, examples: Sequence[Mapping[str, Any]]) -> Feedback:
    """Feedback as if the student got every example wrong (no student runs in a dry run)."""
    if spec.kind == "cls":
        first, last = spec.labels[0], spec.labels[-1]
        predicted: list[Any] = [last if ex["label"] == first else first for ex in examples]
    else:
        predicted = [["O"] * len(ex["tokens"]) for ex in examples]
    return split_feedback(spec, list(examples), predicted)


async def _estimate(config: RunConfig, spec: TaskSpec, seed_set: list[Example],
                    recorder: RecordingTeacher) -> list[RoundEstimate]:
    teacher = cast(TeacherClient, recorder)  # it records each request instead of sending it
    ctx = cast(RunContext, SimpleNamespace(config=config, spec=spec, seed_set=seed_set,
                                           require_teacher=lambda: teacher,
                                           progress=ProgressDisplay(enabled=False)))
    feedback = _all_wrong(spec, seed_set)
    history: list[RoundRecord] = []
    notes: dict[str, Any] = {}
    compact = config.prompts == "compact"
    for round_no in range(1, config.rounds + 1):
        notes.update(await run_stage(ctx, "round_start",
                                     {"round": round_no - 1, "history": history, "notes": notes}))
        state: LoopState = {"round": round_no, "history": history, "notes": notes}
        analysis: WeaknessAnalysis = {}
        if plan(config).analysis:
            shown = feedback if config.correct else {**feedback, "correct": []}
            analysis = await analyze(teacher, spec, round_no=round_no, correct=shown["correct"],
                                     wrong=shown["wrong"], history=round_history(state, round_no))
        jobs = generator_jobs({**state, "analysis": analysis}, ctx)
        written = await asyncio.gather(*(generate(teacher, spec, generator_request(job, ctx))
                                         for job in jobs))
        texts = [sample for samples, _ in written for sample in samples]
        labelled = await asyncio.gather(*(label(teacher, spec, sample, round_no=round_no,
                                                seeds=seed_set, compact=compact)
                                          for sample in texts))
        kept, _ = await criticize(teacher, spec, [x for done, _ in labelled for x in done],
                                  round_no=round_no, seeds=seed_set, use_llm=config.llm_critic,
                                  rules=config.critic, batch_size=config.critic_batch)
        notes.update(await run_stage(ctx, "after_critic", {**state, "batch": kept}))
        feedback = _all_wrong(spec, kept)
        if config.keeps_history:
            history = [*history, round_record(round_no, analysis, feedback, len(kept), {}, None)]
    return [recorder.rounds[r] for r in sorted(recorder.rounds)]


def token_counter(config: RunConfig) -> tuple[Callable[[str], int], str]:
    """The embedded teacher's own tokenizer where its weights cache is on disk, else the
    4-characters-a-token approximation; and how tokens were counted, in words."""
    if config.teacher == "local":
        try:
            from evokd.teacher.local.cli import _weights_cache
            from evokd.teacher.local.models import DEFAULT_MODEL, resolve_model

            folder = _weights_cache(resolve_model(config.local_model or DEFAULT_MODEL).sha256)
            if (folder / "tokenizer.json").is_file():
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(str(folder))
                return (lambda text: len(tokenizer(text)["input_ids"]),
                        "the local teacher's tokenizer")
        except Exception:  # noqa: BLE001 - any problem only costs the approximation
            pass
    return approx_tokens, f"{CHARS_PER_TOKEN} characters a token (approximation)"


def estimate_run(config: RunConfig, spec: TaskSpec, seed_set: list[Example],
                 train: Sequence[Example], count: Callable[[str], int] = approx_tokens
                 ) -> list[RoundEstimate]:
    """Per-round estimates for ``config`` (no LLM, no student)."""
    seeds = {spec.example_text(ex) for ex in seed_set}
    stand_ins = [ex for ex in train if spec.example_text(ex) not in seeds][:2000] or seed_set
    settings = TeacherSettings(base_url="http://127.0.0.1:9/v1", model=config.model or "local",
                               api_key="", structured_method=config.structured_method)
    teacher = RecordingTeacher(spec, stand_ins, settings, count)
    return asyncio.run(_estimate(config, spec, seed_set, teacher))


def cost(prompt_tokens: int, completion_tokens: int, price_in: float | None,
         price_out: float | None) -> float | None:
    """Cost at ``price_in`` / ``price_out`` per million tokens (None without prices)."""
    ledger = TokenLedger()
    ledger.carry_over(prompt_tokens, completion_tokens)
    return ledger.cost(price_in, price_out)


def estimate_table(rounds: Sequence[RoundEstimate], budget: int | None,
                   prices: tuple[float | None, float | None], counted: str) -> str:
    """The dry run's printout: one line per round, the total, the cost."""
    lines = [f"dry run: no LLM called; tokens counted with {counted}",
             "round   calls   prompt tokens   completion tokens    total" + (
                 "      cost" if prices != (None, None) else "")]
    spent, stop = 0, None
    for row in rounds:
        spent += row.total_tokens
        money = cost(row.prompt_tokens, row.completion_tokens, *prices)
        lines.append(f"{row.round:>5}  {sum(row.calls.values()):>6}  {row.prompt_tokens:>14,}"
                     f"  {row.completion_tokens:>18,}  {row.total_tokens:>7,}"
                     + (f"  {money:>8.4f}" if money is not None else ""))
        if budget is not None and stop is None and spent > budget:
            stop = row.round
    prompt = sum(r.prompt_tokens for r in rounds)
    completion = sum(r.completion_tokens for r in rounds)
    money = cost(prompt, completion, *prices)
    lines.append(f"total  {sum(sum(r.calls.values()) for r in rounds):>6}  {prompt:>14,}"
                 f"  {completion:>18,}  {prompt + completion:>7,}"
                 + (f"  {money:>8.4f}" if money is not None else ""))
    if stop is not None:
        lines.append(f"--budget-tokens {budget:,} is spent during round {stop}: the run stops "
                     "there")
    return "\n".join(lines)
