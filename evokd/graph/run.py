"""Running the loop: run directory, checkpointer, teacher, streaming into trace.jsonl."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from evokd.core import trace
from evokd.core.cli import visible
from evokd.core.errors import UserError
from evokd.core.rundir import RunDir
from evokd.graph.build import build_graph
from evokd.graph.checkpoints import open_checkpointer
from evokd.graph.config import RunConfig
from evokd.graph.context import RunContext
from evokd.graph.progress import ProgressDisplay
from evokd.graph.state import LoopState
from evokd.samples.pool import Pool, describe_pool, read_pool
from evokd.samples.rules import text_key
from evokd.tasks import TaskData, load_task_data, seed_examples
from evokd.tasks.spec import Example, TaskSpec
from evokd.teacher import (
    ResponseCache,
    TeacherClient,
    TeacherSettings,
    TeacherUnavailable,
    default_cache_path,
)

if TYPE_CHECKING:
    from evokd.teacher.local import LocalTeacher

THREAD: RunnableConfig = {"configurable": {"thread_id": "evokd"}}


@dataclass(frozen=True)
class RunResult:
    """What a finished (or resumed-and-finished) run reports."""

    run_dir: Path
    metrics: list[dict[str, Any]]
    stop_reason: str
    tokens: int


def prepare_run_dir(config: RunConfig, resume: bool) -> RunDir:
    """Create (or reopen, on resume) the run directory and write config.json (on resume: the
    settings as this process runs them, e.g. a new endpoint or folder)."""
    run_dir = RunDir(Path(config.run_dir))
    if resume:
        stored = run_dir.read_config()  # a UserError when it is no run directory
        stored.update(json.loads(config.to_json()))
        run_dir.write_config(stored)
        return run_dir
    run_dir.refuse_existing_run()
    run_dir.create()
    run_dir.write_text(run_dir.config, config.to_json())
    return run_dir


def describe_teacher(config: RunConfig) -> str:
    """Which teacher this run uses, in words (the first progress line)."""
    if config.rounds == 0:
        return "none (seed student only)"
    if config.teacher == "local":
        from evokd.teacher.local import DEFAULT_MODEL

        return f"embedded local {config.local_model or DEFAULT_MODEL}"
    return f"{config.model} at {config.base_url}"


def teacher_settings(config: RunConfig, base_url: str, model: str, api_key: str,
                     endpoint: str = "") -> TeacherSettings:
    """The teacher client's settings for ``config`` at ``base_url`` / ``model`` (``endpoint``
    names it in cache keys when its URL does not, e.g. the embedded teacher's changing port)."""
    return TeacherSettings(
        base_url=base_url, model=model, api_key=api_key,
        max_concurrency=config.max_concurrency, structured_method=config.structured_method,
        temperature=config.temperature, seed=config.seed,
        budget_tokens=config.budget_tokens, timeout_s=config.timeout,
        validation_retries=config.reply_retries,
        rpm=config.rpm, tpm=config.tpm, endpoint=endpoint,
    )


@contextlib.asynccontextmanager
async def open_teacher(
    config: RunConfig, run_dir: RunDir, api_key: str
) -> AsyncIterator[TeacherClient | None]:
    """The teacher client for this run (starting the embedded local teacher if asked)."""
    if config.rounds == 0:
        yield None
        return
    async with contextlib.AsyncExitStack() as stack:
        base_url, model, info = config.base_url, config.model, {"kind": "openai"}
        endpoint = ""  # the cache tells endpoints apart by their URL
        if config.teacher == "local":
            from evokd.teacher.local import (
                DEFAULT_MODEL,
                LocalTeacher,
                LocalTeacherError,
                ModelError,
            )

            try:
                device = "cpu" if config.device == "mps" else config.device  # shares a CUDA GPU
                local = stack.enter_context(
                    LocalTeacher(config.local_model or DEFAULT_MODEL, device=device))
            except (ModelError, LocalTeacherError) as exc:
                raise UserError(str(exc).strip().splitlines()[0]) from None
            base_url, model, info = local.base_url, local.model_name, local.describe()
            endpoint = f"embedded:{model}"  # its port changes from process to process
            stack.callback(record_engine_counters, local, run_dir)  # while it still runs
        settings = teacher_settings(config, base_url, model, api_key, endpoint)
        run_dir.record_info("teacher_info", {**info, **settings.public_dict()})
        cache = ResponseCache(default_cache_path()) if config.cache else None
        client = TeacherClient(settings, cache)
        client.record = run_dir.append_trace  # on disk before a checkpoint can hold the reply
        stack.push_async_callback(client.aclose)
        yield client


def record_engine_counters(local: LocalTeacher, run_dir: RunDir) -> None:
    """A ``teacher_engine`` trace event: what the embedded teacher did for this process
    (requests, batches, prompt tokens read and computed, prefill seconds)."""
    facts = local.counters()
    if facts:
        run_dir.append_trace(trace.teacher_engine(facts))


def run_one(config: RunConfig, *, resume: bool, show_progress: bool = True,
            data: TaskData | None = None, hint: str = "") -> RunResult:
    """Run (or resume) one loop to its end, from synchronous code (the command line, the
    Python API, each seed of ``--seeds``); the API key comes from ``$OPENAI_API_KEY``. An
    endpoint that cannot be used is a UserError: its reason, then ``hint`` (how to go on)."""
    try:
        return asyncio.run(run_loop(config, resume=resume,
                                    api_key=os.environ.get("OPENAI_API_KEY", "") or "unused",
                                    show_progress=show_progress, data=data))
    except TeacherUnavailable as exc:
        raise UserError(f"{exc}; {hint}" if hint else str(exc)) from None


def seed_set_of(config: RunConfig, data: TaskData) -> list[Example]:
    """The run's k-shot seed set (a UserError when the draw finds none)."""
    seed_set = seed_examples(config.spec, data, config.k_shot, config.seed)
    if not seed_set:
        raise UserError(f"the k-shot draw found no examples in {config.task}'s train split; "
                        "check its labels with: python main.py task TASK")
    return seed_set


def leak_keys_of(spec: TaskSpec, data: TaskData) -> frozenset[str]:
    """Keys of the dev and test texts: a generated text among them is dropped (leakage)."""
    return frozenset(text_key(spec.example_text(ex)) for ex in data.dev + data.test)


def pool_of(config: RunConfig, data: TaskData, seed_set: Sequence[Example],
            leak_keys: frozenset[str]) -> Pool | None:
    """The run's ``--pool`` texts (None without one), read once per process."""
    if not config.pool:
        return None
    return read_pool(config.spec, config.pool, data.train, seed_set, leak_keys)


async def stream_run(graph: CompiledStateGraph[LoopState, RunContext, LoopState, LoopState],
                     context: RunContext, run_input: Any) -> None:
    """Run the compiled loop from ``run_input`` (``{}`` starts, None resumes), writing node
    updates and custom events into the run's trace; LLM calls, which the teacher records
    itself, go to the progress display."""
    run_dir, progress, teacher = context.run_dir, context.progress, context.teacher
    # node tasks at once: at least as many as LLM requests may be in flight
    tasks: RunnableConfig = {**THREAD, "max_concurrency": max(64, context.config.max_concurrency)}
    async for part in graph.astream(
        run_input, tasks, context=context, stream_mode=["updates", "custom"], durability="sync",
    ):
        # several stream modes: each part is a (mode, chunk) pair
        mode, chunk = cast(tuple[str, dict[str, Any]], part)
        if mode == "custom":
            if trace.kind(chunk) != trace.LLM_CALL:  # the teacher recorded those
                run_dir.append_trace(chunk)
            elif teacher is not None:
                progress.llm_event(chunk, teacher.in_flight)
            continue
        for node, update in chunk.items():
            run_dir.append_trace(trace.node_update(node, update))


def _require_students(run_dir: RunDir, values: Mapping[str, Any],
                      next_nodes: Sequence[str]) -> None:
    """Before a resume runs anything: the students the state still needs (the best so far, and
    the round's candidate when ``assess`` comes next) are in this run folder; a run copied
    without ``work/`` cannot go on from where it stopped."""
    keys = ("student_path", "candidate_path") if "assess" in next_nodes else ("student_path",)
    for key in keys:
        stored = values.get(key) or ""
        if stored and not run_dir.at(stored).is_dir():
            raise UserError(f"{run_dir.path}: the student this run goes on from "
                            f"({visible(stored)}) is not in the run folder; copy the run folder "
                            "whole (with work/), or start afresh with --run-dir")


async def run_loop(
    config: RunConfig, *, resume: bool = False, api_key: str = "", show_progress: bool = True,
    data: TaskData | None = None,
) -> RunResult:
    """Run (or resume) the loop described by ``config`` (on ``data`` when the caller has
    loaded it already); returns the metrics per round."""
    spec = config.spec
    data = data if data is not None else load_task_data(spec)
    seed_set = seed_set_of(config, data)
    hardware = config.hardware()
    leak_keys = leak_keys_of(spec, data)
    pool = pool_of(config, data, seed_set, leak_keys)  # a bad pool stops before any file
    run_dir = prepare_run_dir(config, resume)
    run_dir.record_info("hardware", hardware.describe())
    compiled = build_graph()
    with ProgressDisplay(enabled=show_progress) as progress:
        about = hardware.describe()
        progress.say(f"teacher: {describe_teacher(config)}; student {config.student} on "
                     f"{about['device']} ({about['device_name']}), {about['precision']}, max "
                     f"length {about['max_length']}")
        if pool is not None:
            progress.say(describe_pool(pool))
        async with (
            open_teacher(config, run_dir, api_key) as teacher,
            open_checkpointer(run_dir.checkpoints) as saver,
        ):
            graph = compiled.compile(checkpointer=saver)
            run_dir.write_text(run_dir.graph, graph.get_graph().draw_mermaid())
            context = RunContext(config=config, spec=spec, data=data, seed_set=seed_set,
                                 run_dir=run_dir, teacher=teacher, leak_keys=leak_keys,
                                 pool=pool,
                                 progress=progress, hardware=hardware)
            snapshot = await graph.aget_state(THREAD)
            # finished = no task left in the step; ``next`` alone also empties when a process
            # died after the step's tasks had finished but before the next checkpoint
            if resume and snapshot.values and not snapshot.tasks:
                progress.say(f"{run_dir.path}: this run has already finished")
            else:
                if resume:
                    _require_students(run_dir, snapshot.values, snapshot.next)
                if resume and teacher is not None:  # tokens so far include earlier processes'
                    teacher.ledger.carry_over(*run_dir.traced_usage())
                run_dir.append_trace(trace.run_start(resume, config.task))
                await stream_run(graph, context, None if resume and snapshot.values else {})
            snapshot = await graph.aget_state(THREAD)
            final = snapshot.values
    if not snapshot.next and not config.keep_work:  # finished: student/ holds the best one
        run_dir.remove_work()
    tokens = teacher.ledger.total_tokens if teacher is not None else 0
    from evokd.inspection.model_card import write_model_card
    from evokd.inspection.report import report_after_run  # matplotlib loads only here

    report_after_run(run_dir.path)  # report.html; a failure to draw is one line, not an error
    write_model_card(run_dir.path, teacher=describe_teacher(config),
                     seed_examples=len(seed_set))
    return RunResult(run_dir.path, final.get("metrics", []), final.get("stop_reason", ""), tokens)
