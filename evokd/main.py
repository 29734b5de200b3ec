"""evokd command line: flags → RunConfig → run → summary.

    python main.py --task conll03 [--rounds N --k-shot 1 --seed 1 ...]
    python main.py --resume RUN_DIR
    python main.py serve-teacher [--model NAME --port N]
    python main.py trace RUN_DIR        (terminal timeline of a run)
    python main.py view RUN_DIR         (web page of a run on 127.0.0.1)
    python main.py report RUN_DIR...    (report.html; compares runs when given several)
    python main.py task TASK            (check a task file and show what evokd understood)
    python main.py predict RUN TEXT...  (label new texts with a run's student)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evokd.core.cli import EXIT_USAGE, UsageParser, percent, visible
from evokd.core.errors import UserError
from evokd.core.rundir import RunDir, best_row, full_disk_is_user_error
from evokd.core.settings import add_flags, given
from evokd.graph.config import LOCAL_PRESET, Command, RunConfig, role_switches
from evokd.graph.resume import DEFAULT_OPENAI_MODEL, OPENAI_URL, resumed_config, resumed_endpoint
from evokd.graph.strategy import strategy
from evokd.samples.pool import FROM_TRAIN, check_pool_file
from evokd.stop_reasons import DONE
from evokd.tasks import TaskData, builtin_names, load_task_data, resolve_data_dir, resolve_task
from evokd.tasks.registry import is_task_file

if TYPE_CHECKING:
    from evokd.graph.run import RunResult

# name -> (module, function taking argv and returning an exit code, one line of help)
SUBCOMMANDS = {
    "predict": ("evokd.predict", "predict_main",
                "label new texts with a run's student (no LLM): RUN TEXT... or --file F"),
    "trace": ("evokd.inspection.timeline", "trace_main",
              "a run's timeline in the terminal, round by round, with every drop's reason"),
    "view": ("evokd.inspection.viewer", "view_main",
             "a run as a web page on 127.0.0.1 (samples, drops, LLM calls)"),
    "report": ("evokd.inspection.report", "report_main",
               "write report.html for a run, or compare several runs"),
    "task": ("evokd.tasks.check", "task_main",
             "check a task file and show what evokd understood of it"),
    "serve-teacher": ("evokd.teacher.local", "serve_main",
                      "serve the embedded teacher as an OpenAI-compatible endpoint"),
}


def subcommand_help() -> str:
    """The ``--help`` lines that list the subcommands, one line each."""
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {about}" for name, (_, _, about) in SUBCOMMANDS.items()]
    return ("subcommands (python main.py COMMAND --help for each):\n" + "\n".join(lines))


def build_parser() -> UsageParser:
    """The CLI flags, one per field of RunConfig and Command (graph/config.py)."""
    parser = UsageParser(prog="main.py",
                         description="EvoKD: distil an LLM into a small student model.",
                         epilog=subcommand_help(),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(parser, RunConfig, LOCAL_PRESET)
    add_flags(parser, role_switches())
    add_flags(parser, Command, absent=False)  # args.resume, args.quiet, ... always there
    return parser


def _teacher_kind(flags: dict[str, Any]) -> str:
    """``openai`` when a remote teacher is asked for (``--teacher openai``, ``--model``,
    ``--base-url``, ``$OPENAI_BASE_URL`` or ``$OPENAI_API_KEY``), else the embedded ``local``
    one. A remote ask that cannot work (api.openai.com without a key) is a UserError, never a
    silent switch to the local teacher."""
    if flags.get("teacher") == "local":
        return "local"
    env = os.environ
    base_url = flags.get("base_url")
    asked = [name for name, value in (
        ("--teacher openai", flags.get("teacher") == "openai"),
        (f"--model {flags.get('model')}", flags.get("model")), ("--base-url", base_url),
        ("$OPENAI_BASE_URL", env.get("OPENAI_BASE_URL")),
        ("$OPENAI_API_KEY", env.get("OPENAI_API_KEY"))) if value]
    if not asked:
        return "local"
    if flags.get("rounds") != 0 and not (base_url or env.get("OPENAI_BASE_URL")
                                         or env.get("OPENAI_API_KEY")):
        raise UserError(f"{asked[0]} asks for a remote teacher at api.openai.com, but "
                        "OPENAI_API_KEY is not set; export OPENAI_API_KEY=..., or give "
                        "--base-url URL for your own server (vLLM, Ollama), or use "
                        "--teacher local for the embedded one")
    return "openai"


def settings_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], Command]:
    """The settings the flags give (RunConfig fields and role switches: only those set) and
    what this invocation does."""
    return given(args, RunConfig) | given(args, role_switches()), Command(**given(args, Command))


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of a new run for parsed flags (see ``config_from_settings``)."""
    return config_from_settings(settings_from_args(args)[0])


def config_from_settings(settings: Mapping[str, Any]) -> RunConfig:
    """The RunConfig of a new run: field defaults, then the local preset when the embedded
    teacher runs, then ``settings`` (flags or the API's keywords: RunConfig fields and role
    switches; the endpoint from them, then from the environment)."""
    switch_names = {f.name for f in dataclasses.fields(role_switches())}
    flags = {k: v for k, v in settings.items() if k not in switch_names}
    switched = {k: v for k, v in settings.items() if k in switch_names}
    if not flags.get("task"):
        raise UserError("--task is required (or --resume DIR); "
                        f"tasks: {', '.join(builtin_names())}, or a task file")
    data_dir = resolve_data_dir(flags.get("data_dir"))
    spec = resolve_task(flags["task"], data_dir)
    if not strategy(flags.get("strategy", RunConfig.strategy)).rounds:  # none: seed student
        flags["rounds"] = 0
    if "pool" not in flags and spec.source.pool:  # the task file's data: pool:
        flags["pool"] = spec.source.pool
    if flags.get("pool") and flags["pool"] != FROM_TRAIN:  # a resume elsewhere finds it
        flags["pool"] = str(Path(flags["pool"]).expanduser().resolve())
    kind = _teacher_kind(flags)
    remote = kind == "openai"
    settings = {**(LOCAL_PRESET if kind == "local" else {}), **flags}
    return RunConfig(**{
        **settings, "roles": tuple(sorted(name for name, on in switched.items() if on)),
        "task": spec.name, "task_spec": spec.to_dict(), "data_dir": str(data_dir),
        "teacher": kind,
        "run_dir": flags.get("run_dir") or f"runs/{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        "base_url": flags.get("base_url") or os.environ.get("OPENAI_BASE_URL") or (
            OPENAI_URL if remote else ""),
        "model": flags.get("model") or os.environ.get("EVOKD_MODEL") or (
            DEFAULT_OPENAI_MODEL if remote else ""),
    })


def resume_config(resume: str, settings: Mapping[str, Any]) -> RunConfig:
    """The stored config of the run in ``--resume DIR``, working in DIR, with the settings given
    now applied (endpoint, model, rounds, pacing, ...) or refused by name (a different --task,
    --seed, --student, ...); the checkpoints are checked to hold plain data first."""
    from evokd.graph.checkpoints import verify_checkpoints

    run_dir = RunDir(resume)
    config = RunConfig.from_run_dir(run_dir)
    switch_names = {f.name for f in dataclasses.fields(role_switches())}
    flags = {k: v for k, v in settings.items() if k not in switch_names}
    switches = {k: bool(v) for k, v in settings.items() if k in switch_names}
    asked = flags.get("task")
    if asked and is_task_file(asked):
        asked = resolve_task(asked, resolve_data_dir(flags.get("data_dir"))).name
    if asked and asked != config.task:
        raise UserError(f"{resume} is a run of task {config.task!r}, not {asked!r}; "
                        f"resume it without --task, or start a {asked} run with another "
                        "--run-dir")
    if "run_dir" in flags and Path(flags["run_dir"]).resolve() != run_dir.path.resolve():
        raise UserError(f"--run-dir {flags['run_dir']} with --resume {resume}: a resumed "
                        "run stays in its folder; give one of the two")
    if "data_dir" in flags and (resolve_data_dir(flags["data_dir"]).resolve()
                                == Path(config.data_dir).resolve()):
        del flags["data_dir"]
    config = resumed_config(config, flags, run_dir.path, switches)
    verify_checkpoints(run_dir.checkpoints)
    config, notice = resumed_endpoint(config, flags)
    if notice:
        print(f"evokd: {visible(notice)}", file=sys.stderr)
    return config


def print_summary(result: RunResult, kind: str) -> None:
    """The per-round table and where the outputs are."""
    cls = kind == "cls"
    head = "round   dev F1   test F1" + ("  test acc" if cls else "") + "   kept  dropped   tokens"
    print(head)
    for row in result.metrics:
        acc = f"  {percent(row.get('test_accuracy'), 8)}" if cls else ""
        mark = " *" if row.get("best") else ""
        print(f"{row['round']:>5}  {percent(row['dev_f1'], 7)}  {percent(row['test_f1'], 8)}{acc}"
              f"  {row['kept']:>5}  {row['dropped']:>7}  {row['tokens']:>7}{mark}")
    if result.metrics:
        best = best_row(result.metrics)
        extra = f", test F1 {percent(best['test_f1'])}"
        if cls:
            extra = (f", test accuracy {percent(best.get('test_accuracy'))}, test macro-F1 "
                     f"{percent(best['test_f1'])}")
        if best["test_f1"] is None:
            extra = ", no test split"
        print(f"best student: round {best['round']} (dev F1 {percent(best['dev_f1'])}{extra})")
    print(f"stopped: {result.stop_reason or DONE}; outputs in {result.run_dir}")
    from evokd.inspection.next_steps import next_steps

    for line in next_steps(Path(result.run_dir), kind):
        print(line)


def quiet_libraries() -> None:
    """Keep library chatter (warnings, progress bars, info logs) out of the output."""
    os.environ.setdefault("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def prepare(settings: Mapping[str, Any], command: Command) -> tuple[RunConfig, TaskData]:
    """Config and task data for the settings given (by flags or the API) and the command; bad
    input fails here, in a second, before torch and transformers load and before anything is
    written to a run directory."""
    if command.resume:
        config = resume_config(command.resume, settings)
    else:
        config = config_from_settings(settings)
        RunDir(config.run_dir).refuse_existing_run()
    data = load_task_data(config.spec)
    check_pool_file(config.pool)
    config.hardware()  # a device or precision this machine lacks: exit 2 before any output
    return config, data


def run_once(config: RunConfig, data: TaskData, command: Command) -> RunResult:
    """Run (or resume) one loop for ``config`` while holding its folder's lock; returns its
    RunResult."""
    run_dir = RunDir(config.run_dir)
    hint = f"python main.py --resume {config.run_dir}"
    with run_dir.lock(), full_disk_is_user_error(hint):
        quiet_libraries()
        from evokd.graph.run import run_one

        return run_one(config, resume=bool(command.resume), show_progress=not command.quiet,
                       data=data, hint=f"resume later with: {hint}")


def dry_run(config: RunConfig, data: TaskData) -> int:
    """Print what ``config`` would spend (no LLM call, no student, nothing written)."""
    from evokd.graph.estimate import estimate_run, estimate_table, token_counter

    if config.rounds == 0:
        print("dry run: --rounds 0 (or --strategy none) calls no LLM: 0 tokens")
        return 0
    count, counted = token_counter(config)
    print(estimate_table(estimate_run(config, data, count), config.budget_tokens,
                         (config.price_in, config.price_out), counted))
    return 0


def _run_seeds(command: Command, config: RunConfig) -> int:
    if command.resume:
        raise UserError("--seeds starts new runs; resume one seed with --resume RUN_DIR/seed-N "
                        "(or rerun the same --seeds command: finished seeds are kept, stopped "
                        "ones resume)")
    quiet_libraries()
    from evokd.graph.seeds import run_seeds

    return run_seeds(config, command.seeds or [], show_progress=not command.quiet,
                     per_run=lambda result: print_summary(result, config.spec.kind))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 internal error, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module, function, _ = SUBCOMMANDS[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:])
    settings, command = settings_from_args(build_parser().parse_args(argv))
    run_dir = command.resume or settings.get("run_dir")
    try:
        config, data = prepare(settings, command)
        run_dir = config.run_dir
        if command.dry_run:
            return dry_run(config, data)
        if command.seeds is not None:
            return _run_seeds(command, config)
        result = run_once(config, data, command)
    except UserError as exc:
        print(f"evokd: error: {visible(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\nevokd: interrupted; continue with: python main.py --resume {run_dir}",
              file=sys.stderr)
        return 130
    print_summary(result, config.spec.kind)
    return 0


def cli() -> None:
    """The ``evokd`` console command (same as ``python main.py``)."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
