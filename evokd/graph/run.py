"""Running the loop: run directory, checkpointer, teacher, streaming into trace.jsonl."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from evokd.graph.build import build_graph
from evokd.graph.config import RunConfig
from evokd.graph.context import RunContext
from evokd.graph.progress import ProgressDisplay
from evokd.graph.rundir import RunDir
from evokd.graph.workdir import remove_work
from evokd.samples.rules import text_key
from evokd.tasks import TaskData, UserError, load_task_data, seed_examples
from evokd.teacher import ResponseCache, TeacherClient, TeacherSettings, default_cache_path

if TYPE_CHECKING:
    from evokd.teacher.local import LocalTeacher

THREAD = {"configurable": {"thread_id": "evokd"}}
SUMMARISED = ("texts", "labelled", "drops", "batch", "pool", "history", "metrics")


@dataclass(frozen=True)
class RunResult:
    """What a finished (or resumed-and-finished) run reports."""

    run_dir: Path
    metrics: list[dict[str, Any]]
    stop_reason: str
    tokens: int


def prepare_run_dir(config: RunConfig, resume: bool) -> RunDir:
    """Create (or reopen, on resume) the run directory and write config.json."""
    run_dir = RunDir(Path(config.run_dir))
    if resume:
        if not run_dir.config.exists():
            raise UserError(f"{run_dir.path} is not a run directory (no config.json); --resume "
                            "takes the --run-dir of an earlier run")
        return run_dir
    run_dir.refuse_existing_run()
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_text(run_dir.config, config.to_json())
    return run_dir


def record_info(run_dir: RunDir, key: str, info: dict[str, Any]) -> None:
    """Add a description (the teacher's, never its key; the student's hardware) to
    config.json under ``key``."""
    config = json.loads(run_dir.config.read_text(encoding="utf-8"))
    config[key] = info
    run_dir.write_text(run_dir.config, json.dumps(config, indent=2, sort_keys=True) + "\n")


def describe_teacher(config: RunConfig) -> str:
    """Which teacher this run uses, in words (the first progress line)."""
    if config.rounds == 0:
        return "none (seed student only)"
    if config.teacher == "local":
        from evokd.teacher.local import DEFAULT_MODEL

        return f"embedded local {config.local_model or DEFAULT_MODEL}"
    return f"{config.model} at {config.base_url}"


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
            stack.callback(record_engine_counters, local, run_dir)  # while it still runs
        settings = TeacherSettings(
            base_url=base_url, model=model, api_key=api_key,
            max_concurrency=config.max_concurrency, structured_method=config.structured_method,
            temperature=config.temperature, seed=config.seed,
            budget_tokens=config.budget_tokens, timeout_s=config.timeout,
            validation_retries=config.reply_retries,
            rpm=config.rpm, tpm=config.tpm,
        )
        record_info(run_dir, "teacher_info", {**info, **settings.public_dict()})
        cache = ResponseCache(default_cache_path()) if config.cache else None
        client = TeacherClient(settings, cache)
        client.record = run_dir.append_trace  # on disk before a checkpoint can hold the reply
        stack.push_async_callback(client.aclose)
        yield client


ENGINE_COUNTERS = ("engine", "served", "batches", "batched_requests", "prefill_prompt_tokens",
                   "prefill_computed_tokens", "prefill_seconds")


def record_engine_counters(local: LocalTeacher, run_dir: RunDir) -> None:
    """A ``teacher_engine`` trace event: what the embedded teacher did for this process
    (requests, batches, prompt tokens read and computed, prefill seconds)."""
    facts = local.counters()
    if facts:
        run_dir.append_trace({"event": "teacher_engine",
                              **{key: facts[key] for key in ENGINE_COUNTERS if key in facts}})


def _summarise(node: str, update: Any) -> dict[str, Any]:
    """A trace event for a node's state update; long lists are counted, not copied."""
    event: dict[str, Any] = {"event": "node", "node": node}
    if isinstance(update, dict):
        for key, value in update.items():
            event[key] = len(value) if key in SUMMARISED and isinstance(value, list) else value
    return event


async def run_loop(
    config: RunConfig, *, resume: bool = False, api_key: str = "", show_progress: bool = True,
    data: TaskData | None = None,
) -> RunResult:
    """Run (or resume) the loop described by ``config`` (on ``data`` when the caller has
    loaded it already); returns the metrics per round."""
    spec = config.spec
    data = data if data is not None else load_task_data(spec)
    seed_set = seed_examples(spec, data, config.k_shot, config.seed)
    if not seed_set:
        raise UserError(f"the k-shot draw found no examples in {config.task}'s train split; "
                        "check its labels with: python main.py task TASK")
    hardware = config.hardware()
    run_dir = prepare_run_dir(config, resume)
    record_info(run_dir, "hardware", hardware.describe())
    leak_keys = frozenset(text_key(spec.example_text(ex)) for ex in data.dev + data.test)
    compiled = build_graph()
    with ProgressDisplay(enabled=show_progress) as progress:
        about = hardware.describe()
        progress.say(f"teacher: {describe_teacher(config)}; student {config.student} on "
                     f"{about['device']} ({about['device_name']}), {about['precision']}, max "
                     f"length {about['max_length']}")
        async with (
            open_teacher(config, run_dir, api_key) as teacher,
            AsyncSqliteSaver.from_conn_string(str(run_dir.checkpoints)) as saver,
        ):
            graph = compiled.compile(checkpointer=saver)
            run_dir.write_text(run_dir.graph, graph.get_graph().draw_mermaid())
            context = RunContext(config=config, spec=spec, data=data, seed_set=seed_set,
                                 run_dir=run_dir, teacher=teacher, leak_keys=leak_keys,
                                 progress=progress, hardware=hardware)
            snapshot = await graph.aget_state(THREAD)
            # finished = no task left in the step; ``next`` alone also empties when a process
            # died after the step's tasks had finished but before the next checkpoint
            if resume and snapshot.values and not snapshot.tasks:
                progress.say(f"{run_dir.path}: this run has already finished")
            else:
                if resume and teacher is not None:  # tokens so far include earlier processes'
                    teacher.ledger.carry_over(*run_dir.traced_usage())
                run_dir.append_trace({"event": "run_start", "resume": resume,
                                      "task": config.task})
                # node tasks at once: at least as many as LLM requests may be in flight
                tasks = {"max_concurrency": max(64, config.max_concurrency)}
                async for mode, chunk in graph.astream(
                    None if resume and snapshot.values else {}, THREAD | tasks,
                    context=context, stream_mode=["updates", "custom"], durability="sync",
                ):
                    if mode == "custom":
                        if chunk.get("event") != "llm_call":  # the teacher recorded those
                            run_dir.append_trace(chunk)
                        elif teacher is not None:
                            progress.llm_event(chunk, teacher.in_flight)
                        continue
                    for node, update in chunk.items():
                        run_dir.append_trace(_summarise(node, update))
            snapshot = await graph.aget_state(THREAD)
            final = snapshot.values
    if not snapshot.next and not config.keep_work:  # finished: student/ holds the best one
        remove_work(run_dir.path)
    tokens = teacher.ledger.total_tokens if teacher is not None else 0
    from evokd.inspection.model_card import write_model_card
    from evokd.inspection.report import report_after_run  # matplotlib loads only here

    report_after_run(run_dir.path)  # report.html; a failure to draw is one line, not an error
    write_model_card(run_dir.path, teacher=describe_teacher(config),
                     seed_examples=len(seed_set))
    return RunResult(run_dir.path, final.get("metrics", []), final.get("stop_reason", ""), tokens)
