"""Targeting: how a round's sample quota is shared out into generator calls — half easy, half
hard, the hard calls aimed at labels by their dev-F1 shortfall and the analyst's weak labels."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from evokd.agents.generator import GeneratorRequest, target_labels
from evokd.graph.config import RunConfig
from evokd.graph.context import RunContext
from evokd.graph.memory import round_history
from evokd.graph.state import GeneratorJob, LoopState
from evokd.graph.strategy import plan, stance_quotas
from evokd.samples.records import FeedbackItem
from evokd.samples.rules import text_key


def expected_calls(cfg: RunConfig) -> int:
    """About how many LLM calls one round makes when every reply is usable (the progress
    line's total): the analyst, the generator calls, one labeler call per text and the critic's
    batches. Retries and optional roles come on top."""
    texts = cfg.samples_per_round
    generator = sum(math.ceil(q / cfg.texts_per_call) for q in stance_quotas(cfg).values())
    return (int(plan(cfg).analysis) + generator + (texts if cfg.separate_labeling else 0)
            + (math.ceil(texts / cfg.critic_batch) if cfg.llm_critic and cfg.critic else 0))


WEAK_BONUS = 0.5  # extra weight of a label the analyst names weak


def hard_label_weights(labels: list[str], analysis: Mapping[str, Any],
                       label_f1: Mapping[str, float]) -> dict[str, float]:
    """How much of the hard quota each label deserves: its dev-F1 shortfall (1 - F1 of the
    best student) plus a bonus where the analyst names it weak; only the analyst's weak labels
    (equally) when no per-label dev F1 is known."""
    weak = set(analysis.get("weak_labels") or [])
    if not label_f1:
        return {label: 1.0 if label in weak or not weak else 0.0 for label in labels}
    return {label: 1.0 - float(label_f1.get(label, 0.0)) + (WEAK_BONUS if label in weak else 0)
            for label in labels}


def allocate(weights: dict[str, float], n: int) -> list[str]:
    """``n`` labels in proportion to ``weights`` (highest average first; ties by order)."""
    counts = dict.fromkeys(weights, 0)
    if not any(w > 0 for w in weights.values()):
        weights = dict.fromkeys(weights, 1.0)
    chosen = []
    for _ in range(n):
        label = max(weights, key=lambda k: weights[k] / (counts[k] + 1))
        counts[label] += 1
        chosen.append(label)
    return chosen


def generator_jobs(state: LoopState, ctx: RunContext) -> list[GeneratorJob]:
    """Split the round's sample quota into generator calls: half easy, half hard. Each hard
    call aims at one label, the labels shared out by :func:`hard_label_weights`."""
    cfg, analysis = ctx.config, state.get("analysis") or {}
    per_stance = stance_quotas(cfg)
    # without a review history (static, --no-history) nothing else tells rounds apart: a new
    # request number (and topic hint) per round keeps them from asking for the same texts
    offset = (state["round"] - 1) * sum(math.ceil(q / cfg.texts_per_call)
                                        for q in per_stance.values())
    offset = 0 if plan(cfg).history else offset
    jobs: list[GeneratorJob] = []
    hard_calls: Counter[str] = Counter()
    cls = ctx.spec.kind == "cls"
    per_call = cfg.quotes_per_call(ctx.spec.kind)
    quoting = per_call > 0 and cfg.prompts == "full"
    quotes = QuotePicker(ctx.spec.kind, quotable_mistakes(state) if quoting else [],
                         state.get("quoted", []))
    for stance, quota in per_stance.items():
        calls = math.ceil(quota / cfg.texts_per_call)
        labels = target_labels(ctx.spec, analysis, stance)
        aims: list[list[str] | None] = [None] * calls
        if stance == "hard":
            shares = allocate(hard_label_weights(list(ctx.spec.labels), analysis,
                                                 state.get("label_f1") or {}), calls)
            aims = [[label] for label in shares]
            hard_calls.update(shares)
        elif cls:  # easy texts first for the classes the hard calls left out
            order = sorted(labels, key=lambda label: hard_calls[label])
            aims = [[order[index % len(order)]] for index in range(calls)]
        for index, aim in enumerate(aims):
            n = min(cfg.texts_per_call, quota - index * cfg.texts_per_call)
            intended = (aim or [labels[len(jobs) % len(labels)]])[0] if cls else None
            jobs.append({
                "round": state["round"], "stance": stance, "analysis": analysis, "n": n,
                "call": len(jobs) + offset, "intended_label": intended,
                "target": None if cls else aim,
                "history": round_history(state, state["round"]),
                "quotes": (quotes.take(aim[0], min(n, per_call))
                           if stance == "hard" and aim and quoting else []),
            })
    return jobs


def quotable_mistakes(state: LoopState) -> list[FeedbackItem]:
    """The mistakes a hard call may quote: the student's on the newest batch, then on the seed
    set (each text once)."""
    feedback = state.get("feedback") or {}
    seen: set[str] = set()
    mistakes = []
    for item in [*feedback.get("wrong", []), *feedback.get("seed_wrong", [])]:
        key = text_key(item["text"])
        if key not in seen:
            seen.add(key)
            mistakes.append(item)
    return mistakes


def about(kind: str, mistake: FeedbackItem, label: str) -> bool:
    """Whether ``mistake`` concerns ``label``: classification, a text of that label the student
    got wrong; NER, a mention of that type missed, mistyped or made up."""
    if kind == "cls":
        return bool(mistake["gold"] == label)
    gold = {(e["text"], e["type"]) for e in mistake["gold"]}
    predicted = {(e["text"], e["type"]) for e in mistake["predicted"]}
    return any(kind_ == label for _, kind_ in gold ^ predicted)


class QuotePicker:
    """Shares a round's mistakes out over its hard calls: a call aimed at a label quotes the
    mistakes about it, each mistake once before any is quoted twice, those no earlier round
    quoted first (classification: only texts of the call's label; NER: then other mistakes)."""

    def __init__(self, kind: str, mistakes: list[FeedbackItem],
                 quoted_before: Collection[str]) -> None:
        self.kind = kind
        before = {text_key(text) for text in quoted_before}
        self.mistakes = mistakes
        self.fresh = [text_key(m["text"]) not in before for m in mistakes]
        self.uses = [0] * len(mistakes)

    def take(self, label: str, k: int) -> list[FeedbackItem]:
        """Up to ``k`` mistakes for a hard call aimed at ``label``."""
        def rank(i: int) -> tuple[bool, int, bool, int]:
            return (not about(self.kind, self.mistakes[i], label), self.uses[i],
                    not self.fresh[i], i)

        order = sorted(range(len(self.mistakes)), key=rank)
        if self.kind == "cls":
            order = [i for i in order if about(self.kind, self.mistakes[i], label)]
        chosen = order[:k]
        for i in chosen:
            self.uses[i] += 1
        return [self.mistakes[i] for i in chosen]


def generator_request(job: GeneratorJob, ctx: RunContext) -> GeneratorRequest:
    """The generator call a job asks for, with the run's seed examples, sampling temperature
    and prompt style."""
    cfg = ctx.config
    return GeneratorRequest(
        stance=job["stance"], n=job["n"], round_no=job["round"], analysis=job["analysis"],
        call=job["call"], intended_label=job["intended_label"], target=job["target"],
        seeds=ctx.seed_set, history=job["history"], temperature=cfg.temperature,
        compact=cfg.prompts == "compact", quotes=job.get("quotes", []),
    )
