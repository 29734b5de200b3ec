"""Node functions of the loop. Each reads the state, calls an agent or the student, and
returns a partial state update. Heavy student work runs in a worker thread."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.runtime import Runtime

from evokd.agents.analyst import analyze
from evokd.agents.critic import criticize
from evokd.agents.generator import generate, generate_labelled
from evokd.agents.labeler import label
from evokd.core import trace
from evokd.core.cli import percent
from evokd.graph.context import RunContext
from evokd.graph.feedback import split_feedback
from evokd.graph.memory import round_history, round_record
from evokd.graph.selection import group_counts, scan_sample, typical_diverse, uncertain_spread
from evokd.graph.state import GeneratorJob, LabelerJob, LoopState, MetricsRow
from evokd.graph.strategy import plan, pool_quota
from evokd.graph.targeting import expected_calls, generator_request
from evokd.samples.drops import main_drop_reason
from evokd.samples.records import Drop, Feedback
from evokd.samples.rules import RuleCritic, sample_text, text_key
from evokd.stop_reasons import BUDGET_SPENT, DONE, no_gain, rounds_done
from evokd.tasks.readers import conll_text
from evokd.teacher import BudgetExhausted

Ctx = Runtime[RunContext]
SAMPLE_KEYS = ("tokens", "tags", "text", "label", "entities", "stance", "intended_label", "call")


def _train(ctx: RunContext, base: str | None, examples: Sequence[Mapping[str, Any]],
           round_no: int, steps: int) -> tuple[str, int]:
    """Train a copy of ``base`` (or a fresh backbone) and save it under work/round-N;
    returns its path and how many training texts were cut at the max length."""
    ctx.progress.phase(f"round {round_no}: training on {len(examples)} samples")
    path = ctx.run_dir.work(f"round-{round_no}")
    cut = ctx.students.train(ctx.spec, ctx.config, ctx.hardware, base, examples, path,
                             steps=steps, seed=ctx.config.seed * 1000 + round_no,
                             on_step=ctx.progress.training_step)
    return ctx.run_dir.stored(path), cut


def _note_truncated(runtime: Ctx, round_no: int, counts: dict[str, int]) -> None:
    """A trace event counting texts cut at the student's max length (never silent)."""
    counts = {split: n for split, n in counts.items() if n}
    if counts:
        runtime.stream_writer(trace.truncated(round_no, runtime.context.hardware.max_length,
                                              counts))


def _scores(ctx: RunContext, stored: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Dev scores (model selection) and test scores (reporting only; None without a test
    split) of the student the state names ``stored``."""
    student = ctx.students.cached(ctx.spec, str(ctx.run_dir.at(stored)), ctx.hardware)
    ctx.progress.phase("evaluating on dev and test" if ctx.data.test else "evaluating on dev")
    test = student.evaluate(ctx.data.test) if ctx.data.test else None
    return student.evaluate(ctx.data.dev), test


def _label_f1(dev: dict[str, Any]) -> dict[str, float]:
    """Dev F1 per label (model selection data: it steers how many samples each label gets,
    and never reaches a prompt)."""
    return {label: float(v["f1"]) for label, v in dev["per_label"].items()}


def _tokens(ctx: RunContext) -> int:
    return ctx.teacher.ledger.total_tokens if ctx.teacher is not None else 0


def _metrics_row(ctx: RunContext, round_no: int, dev: dict[str, Any],
                 test: dict[str, Any] | None, kept: int, dropped: int, best: bool
                 ) -> MetricsRow:
    """One metrics.jsonl row; per-label F1 is the test split's (the dev split's when the task
    has no test split, marked by ``per_label_split``); test scores are None without one."""
    shown = test if test is not None else dev
    row: MetricsRow = {
        "round": round_no, "dev_f1": dev["f1"], "test_f1": test["f1"] if test else None,
        "per_label_f1": {k: v["f1"] for k, v in shown["per_label"].items()},
        "dev_per_label_f1": _label_f1(dev),
        "tokens": _tokens(ctx), "kept": kept, "dropped": dropped, "best": best,
    }
    if test is None:
        row["per_label_split"] = "dev"
    spent = ctx.teacher.ledger.cost(ctx.config.price_in, ctx.config.price_out) if (
        ctx.teacher is not None) else None
    if spent is not None:
        row["cost"] = round(spent, 6)
    if ctx.spec.kind == "cls":
        row["dev_accuracy"] = dev["accuracy"]
        row["test_accuracy"] = test["accuracy"] if test else None
    return row


async def train_seed(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Train the seed student on the k-shot set and score it (round 0)."""
    ctx = runtime.context
    path, cut = await asyncio.to_thread(_train, ctx, None, ctx.seed_set, 0,
                                        ctx.config.train_steps)
    dev, test = await asyncio.to_thread(_scores, ctx, path)
    _note_truncated(runtime, 0, {"train": cut, "dev": dev["truncated"],
                                 "test": test["truncated"] if test else 0})
    ctx.run_dir.publish_student(ctx.run_dir.at(path))
    metrics = [_metrics_row(ctx, 0, dev, test, 0, 0, True)]
    ctx.run_dir.write_jsonl(ctx.run_dir.metrics, metrics)
    ctx.progress.say(f"seed student: dev F1 {percent(dev['f1'])}"
                     + (f", test F1 {percent(test['f1'])}" if test else ", no test split"))
    return {"round": 0, "student_path": path, "best_dev_f1": dev["f1"], "stale_rounds": 0,
            "label_f1": _label_f1(dev),
            "metrics": metrics, "pool": [], "history": [], "batch": [], "stop_reason": ""}


async def evaluate(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Round 1's feedback: the seed student's predictions on the seed set."""
    ctx = runtime.context
    if not plan(ctx.config).feedback:  # the static baseline uses no feedback
        return {"feedback": {"correct": [], "wrong": []}}
    student = ctx.students.cached(ctx.spec, str(ctx.run_dir.at(state["student_path"])),
                                  ctx.hardware)
    predicted = await asyncio.to_thread(student.predict, ctx.seed_set)
    return {"feedback": split_feedback(ctx.spec, ctx.seed_set, predicted)}


async def analyst(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Start a round: the analyst explains where the student is weak."""
    ctx = runtime.context
    round_no = state["round"] + 1
    feedback: Feedback = state.get("feedback") or {"correct": [], "wrong": []}
    if not ctx.config.correct:  # --no-correct: the analysis sees only the errors
        feedback = {**feedback, "correct": []}
    ctx.progress.phase(f"round {round_no}: analyst, generator, labeler, critic",
                       calls=expected_calls(ctx.config))
    reset: dict[str, Any] = {"round": round_no, "texts": None, "labelled": None,
                             "drops": None, "batch": [], "selection": {}}
    if not plan(ctx.config).analysis:  # the static baseline: no analyst call
        return {**reset, "analysis": {}}
    try:
        analysis = await analyze(
            ctx.require_teacher(), ctx.spec, round_no=round_no, correct=feedback["correct"],
            wrong=feedback["wrong"], history=round_history(state, round_no),
            emit=runtime.stream_writer,
        )
    except BudgetExhausted:
        return {**reset, "analysis": {}, "stop_reason": BUDGET_SPENT}
    return {**reset, "analysis": analysis}


async def select(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Pick the round's pool texts for the labeler (``--pool``; see ``graph.selection``): the
    student scores a sample of the texts not picked yet; typical, diverse ones in the first
    round (or random ones, ``--cold-start random``), then the least certain (``--later-picks
    dense``: weighed by typicality; ``total``: summed over the words), spread over its
    predicted labels; or at random."""
    ctx = runtime.context
    quota = pool_quota(ctx.config)
    if not quota or ctx.pool is None or state.get("stop_reason"):
        return {}
    round_no, picked = state["round"], state.get("picked", [])
    started = time.perf_counter()
    scanned = scan_sample(len(ctx.pool.texts), picked, ctx.config.pool_scan,
                          ctx.config.seed * 1000 + round_no)
    method, positions, predicted = "random", list(range(min(quota, len(scanned)))), {}
    cold = not picked and ctx.config.cold_start == "random"
    if ctx.config.selection == "auto" and scanned and not cold:
        ctx.progress.phase(f"round {round_no}: scoring {len(scanned):,} pool texts")
        student = ctx.students.cached(ctx.spec, str(ctx.run_dir.at(state["student_path"])),
                                      ctx.hardware)
        examples = ctx.pool.examples(scanned, ctx.spec.kind)
        probe = await asyncio.to_thread(student.probe, examples)
        words = [len(ctx.pool.texts[i].split()) for i in scanned]
        if picked:
            method = ctx.config.later_picks
            weak = (state.get("analysis") or {}).get("weak_labels") or []
            positions = await asyncio.to_thread(uncertain_spread, probe, words, ctx.spec.kind,
                                                weak, quota, method)
        else:
            method = "typical"
            positions = await asyncio.to_thread(typical_diverse, probe.embeddings, quota,
                                                ctx.config.seed * 1000 + round_no, words)
        predicted = group_counts(probe, positions, ctx.spec.kind)
    chosen = [scanned[p] for p in positions]
    runtime.stream_writer(trace.selected(round_no, method, len(chosen), len(scanned),
                                         time.perf_counter() - started, predicted))
    ctx.progress.say(f"round {round_no}: picked {len(chosen)} of {len(scanned):,} scanned pool "
                     f"texts ({method})")
    return {"texts": [ctx.pool.sample(i, round_no) for i in chosen],
            "picked": [*picked, *chosen],
            "selection": {"method": method, "n": len(chosen), "predicted": predicted}}


def _emit_drops(runtime: Ctx, round_no: int, drops: Sequence[Drop]) -> None:
    for drop in drops:
        runtime.stream_writer(trace.drop(round_no, drop))


async def generator(job: GeneratorJob, runtime: Ctx) -> dict[str, Any]:
    """One generator call: a few easy or hard texts (or, with --no-separate-labeling, a few
    samples written and labelled in the same call, which skip the labeler)."""
    ctx = runtime.context
    write, key = ((generate, "texts") if ctx.config.separate_labeling
                  else (generate_labelled, "labelled"))
    try:
        samples, dropped = await write(ctx.require_teacher(), ctx.spec,
                                       generator_request(job, ctx), emit=runtime.stream_writer)
    except BudgetExhausted:
        return {"stop_reason": BUDGET_SPENT}
    if ctx.config.critic and samples:  # the critic's text rules, before paying for labels
        samples, screened = RuleCritic(
            ctx.spec, seeds=ctx.seed_set, leak_keys=ctx.leak_keys
        ).filter(samples, labels=False)
        dropped = [*dropped, *screened]
    _emit_drops(runtime, job["round"], dropped)
    return {key: samples, "drops": dropped,
            "quoted": [quote["text"] for quote in job.get("quotes", [])]}


async def gather(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Fan-in point after the generator calls."""
    runtime.stream_writer(trace.generated(state["round"], len(state.get("texts", []))))
    return {}


async def labeler(job: LabelerJob, runtime: Ctx) -> dict[str, Any]:
    """Label one text in its own call."""
    ctx = runtime.context
    try:
        examples, dropped = await label(
            ctx.require_teacher(), ctx.spec, job["sample"], round_no=job["round"],
            seeds=ctx.seed_set, emit=runtime.stream_writer,
            temperature=ctx.config.judge_temperature, compact=ctx.config.prompts == "compact",
        )
    except BudgetExhausted:
        return {"stop_reason": BUDGET_SPENT}
    _emit_drops(runtime, job["round"], dropped)
    return {"labelled": examples, "drops": dropped}


async def critic(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Rule checks and an LLM verdict; what survives is the round's batch."""
    ctx = runtime.context
    round_no = state["round"]
    earlier = [sample_text(s) for s in state.get("pool", [])]
    seen = {text_key(text) for text in earlier}
    near = [*state.get("quoted", []), *earlier] if ctx.config.quotes_per_call(ctx.spec.kind) else []
    try:
        kept, dropped = await criticize(
            ctx.require_teacher(), ctx.spec, state.get("labelled", []), round_no=round_no,
            seeds=ctx.seed_set, seen=seen, leak_keys=ctx.leak_keys, near=near,
            use_llm=ctx.config.llm_critic, rules=ctx.config.critic, emit=runtime.stream_writer,
            batch_size=ctx.config.critic_batch, temperature=ctx.config.judge_temperature,
        )
    except BudgetExhausted:
        return {"batch": [], "stop_reason": BUDGET_SPENT}
    _emit_drops(runtime, round_no, dropped)
    batch = [_accepted(s, round_no) for s in kept]
    return {"batch": batch, "drops": dropped}


def _accepted(sample: Mapping[str, Any], round_no: int) -> dict[str, Any]:
    """A kept sample as the batch and synthetic.jsonl hold it: its ``SAMPLE_KEYS``, and the
    round."""
    return {**{k: sample[k] for k in SAMPLE_KEYS if k in sample}, "round": round_no}


async def feedback(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """The new batch tests the student before it trains on it (next round's feedback)."""
    ctx = runtime.context
    batch = state.get("batch", [])
    if not batch or not plan(ctx.config).feedback:  # the static baseline uses no feedback
        return {}
    student = ctx.students.cached(ctx.spec, str(ctx.run_dir.at(state["student_path"])),
                                  ctx.hardware)
    predicted = await asyncio.to_thread(student.predict, batch)
    _note_truncated(runtime, state["round"], {"batch": student.last_truncated})
    result = split_feedback(ctx.spec, batch, predicted)
    if ctx.config.quotes_per_call(ctx.spec.kind):  # the seed set's mistakes are quotable too
        on_seeds = await asyncio.to_thread(student.predict, ctx.seed_set)
        result["seed_wrong"] = split_feedback(ctx.spec, ctx.seed_set, on_seeds)["wrong"]
    runtime.stream_writer(trace.feedback(state["round"], len(result["correct"]),
                                         len(result["wrong"])))
    return {"feedback": result}


def training_set(state: LoopState, ctx: RunContext) -> list[Mapping[str, Any]]:
    """Retrain schedule: seed set + every accepted sample (earlier batches and the new one).
    Incremental: seed set + the new batch + a seeded replay of earlier batches."""
    earlier = state.get("pool", [])
    if ctx.config.schedule == "retrain":
        return [*ctx.seed_set, *earlier, *state.get("batch", [])]
    rng = random.Random(ctx.config.seed * 1000 + state["round"])
    replay = rng.sample(earlier, min(ctx.config.replay, len(earlier)))
    return [*ctx.seed_set, *state.get("batch", []), *replay]


async def train(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Train the round's candidate: a fresh student from the backbone on everything accepted
    (retrain), or a copy of the best student fine-tuned on batch + replay (incremental)."""
    ctx = runtime.context
    if not state.get("batch"):
        return {"candidate_path": ""}
    if not ctx.config.keep_work:  # the earlier rounds' students that lost to the best
        ctx.run_dir.prune_work(ctx.run_dir.at(state["student_path"]))
    retrain = ctx.config.schedule == "retrain"
    path, cut = await asyncio.to_thread(
        _train, ctx, None if retrain else str(ctx.run_dir.at(state["student_path"])),
        training_set(state, ctx),
        state["round"], ctx.config.train_steps if retrain else ctx.config.round_steps,
    )
    _note_truncated(runtime, state["round"], {"train": cut})
    return {"candidate_path": path}


async def assess(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Dev F1 decides whether the new student is kept; record the round everywhere."""
    ctx = runtime.context
    round_no, batch = state["round"], state.get("batch", [])
    candidate = state.get("candidate_path", "")
    best_path, best_f1 = state["student_path"], state["best_dev_f1"]
    dev, test = await asyncio.to_thread(_scores, ctx, candidate or best_path)
    improved = bool(candidate) and dev["f1"] > best_f1
    label_f1 = state.get("label_f1") or {}
    if improved:
        ctx.run_dir.publish_student(ctx.run_dir.at(candidate))
        best_path, best_f1, label_f1 = candidate, dev["f1"], _label_f1(dev)
    reasons = dict(Counter(d["reason"] for d in state.get("drops", [])))
    row = _metrics_row(ctx, round_no, dev, test, len(batch), sum(reasons.values()), improved)
    row["drop_reasons"] = reasons
    metrics = [*state.get("metrics", []), row]
    pool = [*state.get("pool", []), *batch]
    history = [*state.get("history", []), round_record(
        round_no, state.get("analysis") or {}, state.get("feedback") or {}, len(batch), reasons,
        dev["f1"], state.get("selection"))]
    if not plan(ctx.config).history:  # --no-history and static: no review history
        history = []
    ctx.run_dir.write_jsonl(ctx.run_dir.metrics, metrics)
    ctx.run_dir.write_jsonl(ctx.run_dir.synthetic, pool)
    if ctx.spec.kind == "ner":  # the same samples for CoNLL tools
        ctx.run_dir.write_text(ctx.run_dir.synthetic_conll, conll_text(pool))
    ctx.progress.say(
        f"round {round_no}: kept {len(batch)}, dropped {sum(reasons.values())}"
        + (f" ({', '.join(f'{n} {r}' for r, n in Counter(reasons).most_common())})"
           if reasons else "") + "; dev F1 "
        f"{percent(dev['f1'])} ({'new best' if improved else f'best {percent(best_f1)}'}), "
        f"tokens {_tokens(ctx):,}" + (f", cost {row['cost']:.4f}" if "cost" in row else "")
    )
    if not batch and state.get("drops"):
        ctx.progress.say(f"round {round_no} kept nothing: mostly "
                         f"{main_drop_reason(state['drops'])}; every drop with its reason: "
                         f"python main.py trace {ctx.run_dir.path}")
    return {"student_path": best_path, "best_dev_f1": best_f1, "label_f1": label_f1,
            "metrics": metrics,
            "pool": pool, "history": history,
            "stale_rounds": 0 if improved else state.get("stale_rounds", 0) + 1}


async def finish(state: LoopState, runtime: Ctx) -> dict[str, Any]:
    """Record why the loop stopped."""
    reason = state.get("stop_reason") or stop_reason(state, runtime.context) or DONE
    runtime.stream_writer(trace.run_end(state.get("round", 0), reason))
    return {"stop_reason": reason}


def stop_reason(state: LoopState, ctx: RunContext) -> str:
    """Why the loop should stop now, or "" to go on."""
    cfg = ctx.config
    if state.get("stop_reason"):
        return state["stop_reason"]
    if state.get("round", 0) >= cfg.rounds:
        return rounds_done(cfg.rounds)
    if cfg.budget_tokens is not None and _tokens(ctx) >= cfg.budget_tokens:
        return BUDGET_SPENT
    if state.get("stale_rounds", 0) >= cfg.patience:
        return no_gain(cfg.patience)
    return ""
