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
import asyncio
import importlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evokd.cli import EXIT_USAGE, UsageParser, percent
from evokd.graph.config import LOCAL_PRESET, Command, RunConfig, role_switches
from evokd.graph.rundir import RunDir
from evokd.settings import add_flags, given
from evokd.tasks import UserError, builtin_names, load_task_data, resolve_data_dir, resolve_task
from evokd.tasks.registry import is_task_file

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
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


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Turn parsed flags into a RunConfig: field defaults, then the local preset when the
    embedded teacher runs, then the flags given (endpoint from flags, then environment)."""
    flags = given(args, RunConfig)
    switched = given(args, role_switches())
    if not flags.get("task"):
        raise UserError("--task is required (or --resume DIR); "
                        f"tasks: {', '.join(builtin_names())}, or a task file")
    data_dir = resolve_data_dir(flags.get("data_dir"))
    spec = resolve_task(flags["task"], data_dir)
    if flags.get("strategy") == "none":  # the seed student alone
        flags["rounds"] = 0
    kind = _teacher_kind(flags)
    remote = kind == "openai"
    settings = {**(LOCAL_PRESET if kind == "local" else {}), **flags}
    return RunConfig(**{
        **settings, "roles": tuple(sorted(name for name, on in switched.items() if on)),
        "task": spec.name, "task_spec": spec.to_dict(), "data_dir": str(data_dir),
        "teacher": kind,
        "run_dir": flags.get("run_dir") or f"runs/{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        "base_url": flags.get("base_url") or os.environ.get("OPENAI_BASE_URL") or (
            "https://api.openai.com/v1" if remote else ""),
        "model": flags.get("model") or os.environ.get("EVOKD_MODEL") or (
            DEFAULT_OPENAI_MODEL if remote else ""),
    })


def resume_config(args: argparse.Namespace) -> RunConfig:
    """The stored config of the run in ``--resume DIR`` (a different --task is an error)."""
    config = RunConfig.from_file(Path(args.resume) / "config.json")
    asked = getattr(args, "task", None)
    if asked and is_task_file(asked):
        asked = resolve_task(asked, resolve_data_dir(getattr(args, "data_dir", None))).name
    if asked and asked != config.task:
        raise UserError(f"{args.resume} is a run of task {config.task!r}, not {asked!r}; "
                        f"resume it without --task, or start a {asked} run with another "
                        "--run-dir")
    return config


def print_summary(result: Any, kind: str) -> None:
    """The per-round table and where the outputs are."""
    cls = kind == "cls"
    head = "round   dev F1   test F1" + ("  test acc" if cls else "") + "   kept  dropped   tokens"
    print(head)
    for row in result.metrics:
        acc = f"  {percent(row.get('test_accuracy'), 8)}" if cls else ""
        mark = " *" if row.get("best") else ""
        print(f"{row['round']:>5}  {percent(row['dev_f1'], 7)}  {percent(row['test_f1'], 8)}{acc}"
              f"  {row['kept']:>5}  {row['dropped']:>7}  {row['tokens']:>7}{mark}")
    best = max(result.metrics, key=lambda r: (r["dev_f1"], -r["round"]), default=None)
    if best is not None:
        extra = f", test F1 {percent(best['test_f1'])}"
        if cls:
            extra = (f", test accuracy {percent(best.get('test_accuracy'))}, test macro-F1 "
                     f"{percent(best['test_f1'])}")
        if best["test_f1"] is None:
            extra = ", no test split"
        print(f"best student: round {best['round']} (dev F1 {percent(best['dev_f1'])}{extra})")
    print(f"stopped: {result.stop_reason or 'done'}; outputs in {result.run_dir}")
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


def prepare(args: argparse.Namespace) -> tuple[RunConfig, Any]:
    """Config and task data for parsed flags; bad input fails here, in a second, before torch
    and transformers load and before anything is written to a run directory."""
    config = resume_config(args) if args.resume else config_from_args(args)
    if not args.resume:
        RunDir(Path(config.run_dir)).refuse_existing_run()
    data = load_task_data(config.spec)
    config.hardware()  # a device or precision this machine lacks: exit 2 before any output
    return config, data


def run_once(args: argparse.Namespace, config: RunConfig, data: Any) -> Any:
    """Run (or resume) one loop for ``config``; returns its RunResult."""
    quiet_libraries()
    from evokd.graph.run import run_loop
    from evokd.teacher import TeacherUnavailable

    try:
        return asyncio.run(run_loop(
            config, resume=bool(args.resume), api_key=os.environ.get("OPENAI_API_KEY", "")
            or "unused", show_progress=not args.quiet, data=data,
        ))
    except TeacherUnavailable as exc:
        raise UserError(f"{exc}; resume later with: python main.py --resume {config.run_dir}"
                        ) from None


def dry_run(config: RunConfig, data: Any) -> int:
    """Print what ``config`` would spend (no LLM call, no student, nothing written)."""
    from evokd.graph.estimate import estimate_run, estimate_table, token_counter
    from evokd.tasks.sampler import seed_examples

    if config.rounds == 0:
        print("dry run: --rounds 0 (or --strategy none) calls no LLM: 0 tokens")
        return 0
    count, counted = token_counter(config)
    spec = config.spec
    rounds = estimate_run(config, spec, seed_examples(spec, data, config.k_shot, config.seed),
                          data.train, count)
    print(estimate_table(rounds, config.budget_tokens, (config.price_in, config.price_out),
                         counted))
    return 0


def _run_seeds(args: argparse.Namespace, config: RunConfig) -> int:
    if args.resume:
        raise UserError("--seeds starts new runs; resume one seed with --resume RUN_DIR/seed-N "
                        "(or rerun the same --seeds command: finished seeds are kept, stopped "
                        "ones resume)")
    quiet_libraries()
    from evokd.graph.seeds import run_seeds

    return run_seeds(config, args.seeds, api_key=os.environ.get("OPENAI_API_KEY", "")
                     or "unused", show_progress=not args.quiet,
                     per_run=lambda result: print_summary(result, config.spec.kind))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 internal error, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module, function, _ = SUBCOMMANDS[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:])
    args = build_parser().parse_args(argv)
    run_dir = args.resume or getattr(args, "run_dir", None)
    try:
        config, data = prepare(args)
        run_dir = config.run_dir
        if args.dry_run:
            return dry_run(config, data)
        if args.seeds is not None:
            return _run_seeds(args, config)
        result = run_once(args, config, data)
    except UserError as exc:
        print(f"evokd: error: {exc}", file=sys.stderr)
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
