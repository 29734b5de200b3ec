"""evokd command line: flags → RunConfig → run → summary.

    python main.py --task conll03 [--rounds N --k-shot 1 --seed 1 ...]
    python main.py --resume RUN_DIR
    python main.py serve-teacher [--model NAME --port N]
    python main.py trace RUN_DIR        (terminal timeline of a run)
    python main.py view RUN_DIR         (web page of a run on 127.0.0.1)
    python main.py report RUN_DIR...    (report.html; compares runs when given several)
    python main.py task TASK            (check a task file and show what evokd understood)
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from graph.config import RunConfig
from graph.rundir import RunDir
from student import DEFAULT_STUDENT
from tasks import UserError, builtin_names, load_task_data, resolve_data_dir, resolve_task
from tasks.registry import is_task_file
from tasks.usage import EXIT_USAGE, UsageParser

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# The embedded CPU teacher writes a few tokens per second: smaller defaults keep a default
# run near 15 minutes on 2 cores. Flags override them.
LOCAL_ROUNDS, LOCAL_SAMPLES = 2, 8
# It also answers one request at a time: two in flight keep it busy, and a queued request
# may wait minutes on a loaded CPU.
LOCAL_CONCURRENCY, LOCAL_TIMEOUT_S = 2, 900.0
# A small model keeps a one-sample verdict well-formed far more often than a list of eight.
LOCAL_CRITIC_BATCH = 1
# name -> (module, function taking argv and returning an exit code)
SUBCOMMANDS = {
    "serve-teacher": ("teacher.local", "serve_main"),
    "trace": ("inspection.timeline", "trace_main"),
    "view": ("inspection.viewer", "view_main"),
    "report": ("inspection.report", "report_main"),
    "task": ("tasks.check", "task_main"),
}


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def _non_negative_float(text: str) -> float:
    """An argparse type: a number >= 0 (a price)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _seed_list(text: str) -> list[int]:
    """``1-5`` or ``1,3,5`` (or a mix: ``1-3,7``) as a sorted list of distinct seeds."""
    seeds: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds like 1-5 or 1,3,5, got {text!r}"
                                             ) from None
        if first < 0 or last < first:
            raise argparse.ArgumentTypeError(f"bad seed range {part.strip()!r}")
        seeds.update(range(first, last + 1))
    return sorted(seeds)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text}")
    return value


def _k_shot(text: str) -> int | None:
    return None if text == "all" else _positive(text)


def build_parser() -> argparse.ArgumentParser:
    """The CLI flags (names fixed by the design; defaults shown in --help)."""
    p = UsageParser(description="EvoKD: distil an LLM into a small student model.",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", choices=None, metavar="NAME|FILE",
                   help=f"a built-in task ({', '.join(builtin_names())}) or a task file")
    p.add_argument("--k-shot", type=_k_shot, default=1, metavar="K|all",
                   help="seed examples per label (or 'all': the full train split)")
    p.add_argument("--rounds", type=_non_negative, default=None,
                   help="loop rounds (0 = seed only); default 3, or 2 with the local teacher")
    p.add_argument("--samples-per-round", type=_positive, default=None,
                   help="texts the generator writes per round (half easy, half hard); "
                   "default 16, or 8 with the local teacher")
    p.add_argument("--seed", type=_non_negative, default=1)
    p.add_argument("--student", default=DEFAULT_STUDENT,
                   help="any Hugging Face encoder: hub id or local path")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N|mps",
                   help="where the student trains and predicts (auto: CUDA, then MPS, then CPU)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="student precision (auto: bf16 or fp16 on CUDA, fp32 elsewhere)")
    p.add_argument("--max-length", type=_int_at_least(8), default=None, metavar="N",
                   help="student sub-words per text; longer texts are cut and counted in the "
                   "trace (default: the task file's, else 128 for NER, 256 for classification)")
    p.add_argument("--teacher", choices=["openai", "local"], default=None,
                   help="endpoint kind (default: openai if an endpoint is configured, else local)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint "
                   "(default $OPENAI_BASE_URL)")
    p.add_argument("--model", default=None, help="teacher model (default $EVOKD_MODEL)")
    p.add_argument("--local-model", default="", help="embedded teacher model name or .gguf path")
    p.add_argument("--max-concurrency", type=_positive, default=None,
                   help="LLM requests in flight at once, shared by all roles")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="how long one LLM request may take before it is retried")
    p.add_argument("--budget-tokens", type=_positive, default=None,
                   help="a hard cap on teacher tokens: a call that could cross it is not sent "
                   "and the run stops")
    p.add_argument("--dry-run", action="store_true",
                   help="print the calls and tokens this configuration would spend per round "
                   "(and the cost with --price-in/--price-out), without calling the LLM")
    p.add_argument("--price-in", type=_non_negative_float, default=None, metavar="PRICE",
                   help="currency per million prompt tokens: cost in the dry run, the progress "
                   "line, metrics.jsonl and the report")
    p.add_argument("--price-out", type=_non_negative_float, default=None, metavar="PRICE",
                   help="currency per million completion tokens")
    p.add_argument("--rpm", type=_positive, default=None,
                   help="at most this many LLM requests per minute (all roles together)")
    p.add_argument("--tpm", type=_positive, default=None,
                   help="at most this many tokens per minute (prompt + max_tokens of each "
                   "request, as providers count them)")
    p.add_argument("--structured-method", default=None,
                   choices=["json_object", "json_schema", "function_calling"],
                   help="default json_object, or json_schema with the local teacher "
                   "(it repairs replies against the schema)")
    p.add_argument("--no-cache", action="store_true", help="do not use the LLM response cache")
    p.add_argument("--no-llm-critic", action="store_true", help="critic uses rules only")
    p.add_argument("--texts-per-call", type=_positive, default=4, metavar="N",
                   help="texts asked of one generator call")
    p.add_argument("--critic-batch", type=_positive, default=None, metavar="N",
                   help="samples judged per critic call (default 8, or 1 with the local teacher)")
    p.add_argument("--reviewer", action="store_true",
                   help="a reviewer condenses the review history into a memo for the analyst "
                   "and generator (one extra LLM call per round from round 2)")
    p.add_argument("--patience", type=_positive, default=2,
                   help="stop after this many rounds without a dev F1 gain")
    p.add_argument("--train-steps", type=_positive, default=300,
                   help="minimum training steps of the seed student")
    p.add_argument("--round-steps", type=_positive, default=150,
                   help="minimum training steps per round (--schedule incremental)")
    p.add_argument("--schedule", choices=["retrain", "incremental"], default="retrain",
                   help="retrain: each round trains a fresh student from the backbone on the "
                   "seed set + every accepted sample (--train-steps steps); incremental: "
                   "fine-tunes the best student on the new batch + a replay (--round-steps)")
    p.add_argument("--batch-size", type=_positive, default=16)
    p.add_argument("--strategy", choices=["evokd", "static", "none"], default="evokd",
                   help="evokd: the loop; static: the same teacher writes samples without "
                   "analysis or feedback (stop it with --budget-tokens); none: the seed student "
                   "alone")
    p.add_argument("--no-easy", action="store_true", help="ablation: hard samples only")
    p.add_argument("--no-correct", action="store_true",
                   help="ablation: the analyst sees no correctly predicted samples")
    p.add_argument("--no-history", action="store_true",
                   help="ablation: no review history in the prompts")
    p.add_argument("--no-separate-labeling", action="store_true",
                   help="ablation: the generator labels its own texts in the same call")
    p.add_argument("--no-critic", action="store_true",
                   help="ablation: no critic checks except the dev/test leakage check")
    p.add_argument("--seeds", type=_seed_list, default=None, metavar="A-B|A,B,...",
                   help="run each seed into RUN_DIR/seed-N; writes RUN_DIR/summary.json with "
                   "mean and std of the test scores")
    p.add_argument("--run-dir", default=None, help="default runs/<task>-<timestamp>")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--data-dir", default=None, help="default $EVOKD_DATA_DIR, else ./data")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    return p


def _teacher_kind(args: argparse.Namespace) -> str:
    """``openai`` when a remote teacher is asked for (``--teacher openai``, ``--model``,
    ``--base-url``, ``$OPENAI_BASE_URL`` or ``$OPENAI_API_KEY``), else the embedded ``local``
    one. A remote ask that cannot work (api.openai.com without a key) is a UserError, never a
    silent switch to the local teacher."""
    if args.teacher == "local":
        return "local"
    env = os.environ
    asked = [name for name, value in (
        ("--teacher openai", args.teacher == "openai"), (f"--model {args.model}", args.model),
        ("--base-url", args.base_url), ("$OPENAI_BASE_URL", env.get("OPENAI_BASE_URL")),
        ("$OPENAI_API_KEY", env.get("OPENAI_API_KEY"))) if value]
    if not asked:
        return "local"
    if args.rounds != 0 and not (args.base_url or env.get("OPENAI_BASE_URL")
                                 or env.get("OPENAI_API_KEY")):
        raise UserError(f"{asked[0]} asks for a remote teacher at api.openai.com, but "
                        "OPENAI_API_KEY is not set; export OPENAI_API_KEY=..., or give "
                        "--base-url URL for your own server (vLLM, Ollama), or use "
                        "--teacher local for the embedded one")
    return "openai"


def _default(value: int | None, kind: str, remote: int, local: int) -> int:
    """A flag's value, else its default for the teacher kind (the local teacher is slow)."""
    if value is not None:
        return value
    return local if kind == "local" else remote


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Turn parsed flags into a RunConfig (endpoint settings from flags, then environment)."""
    if not args.task:
        raise UserError("--task is required (or --resume DIR); "
                        f"tasks: {', '.join(builtin_names())}, or a task file")
    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    if args.strategy == "none":  # the seed student alone
        args.rounds = 0
    kind = _teacher_kind(args)
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL") or (
        "https://api.openai.com/v1" if kind == "openai" else "")
    model = args.model or os.environ.get("EVOKD_MODEL") or (
        DEFAULT_OPENAI_MODEL if kind == "openai" else "")
    run_dir = args.run_dir or f"runs/{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return RunConfig(
        task=spec.name, task_spec=spec.to_dict(), run_dir=run_dir,
        data_dir=str(resolve_data_dir(args.data_dir)),
        k_shot=args.k_shot, rounds=_default(args.rounds, kind, 3, LOCAL_ROUNDS),
        samples_per_round=_default(args.samples_per_round, kind, 16, LOCAL_SAMPLES),
        seed=args.seed, student=args.student, device=args.device, precision=args.precision,
        max_length=args.max_length, teacher=kind, model=model, base_url=base_url,
        local_model=args.local_model,
        max_concurrency=_default(args.max_concurrency, kind, 8, LOCAL_CONCURRENCY),
        timeout_s=args.timeout or (LOCAL_TIMEOUT_S if kind == "local" else 60.0),
        budget_tokens=args.budget_tokens, rpm=args.rpm, tpm=args.tpm,
        price_in=args.price_in, price_out=args.price_out,
        structured_method=args.structured_method or (
            "json_schema" if kind == "local" else "json_object"),
        use_cache=not args.no_cache, llm_critic=not args.no_llm_critic, reviewer=args.reviewer,
        critic_batch=_default(args.critic_batch, kind, 8, LOCAL_CRITIC_BATCH),
        texts_per_call=args.texts_per_call,
        patience=args.patience, seed_steps=args.train_steps, round_steps=args.round_steps,
        schedule=args.schedule,
        batch_size=args.batch_size, strategy=args.strategy, easy=not args.no_easy,
        correct_samples=not args.no_correct, history=not args.no_history,
        separate_labeling=not args.no_separate_labeling, critic=not args.no_critic,
    )


def resume_config(args: argparse.Namespace) -> RunConfig:
    """The stored config of the run in ``--resume DIR`` (a different --task is an error)."""
    config = RunConfig.from_file(Path(args.resume) / "config.json")
    asked = args.task
    if asked and is_task_file(asked):
        asked = resolve_task(asked, resolve_data_dir(args.data_dir)).name
    if asked and asked != config.task:
        raise UserError(f"{args.resume} is a run of task {config.task!r}, not {asked!r}; "
                        f"resume it without --task, or start a {asked} run with another "
                        "--run-dir")
    return config


def _pct(value: Any, width: int = 0) -> str:
    """A score in % (``-`` where there is none, e.g. no test split)."""
    return f"{100 * value:{width}.2f}" if isinstance(value, (int, float)) else "-".rjust(width)


def print_summary(result: Any, kind: str) -> None:
    """The per-round table and where the outputs are."""
    cls = kind == "cls"
    head = "round   dev F1   test F1" + ("  test acc" if cls else "") + "   kept  dropped   tokens"
    print(head)
    for row in result.metrics:
        acc = f"  {_pct(row.get('test_accuracy'), 8)}" if cls else ""
        mark = " *" if row.get("best") else ""
        print(f"{row['round']:>5}  {_pct(row['dev_f1'], 7)}  {_pct(row['test_f1'], 8)}{acc}"
              f"  {row['kept']:>5}  {row['dropped']:>7}  {row['tokens']:>7}{mark}")
    best = max(result.metrics, key=lambda r: (r["dev_f1"], -r["round"]), default=None)
    if best is not None:
        extra = f", test F1 {_pct(best['test_f1'])}"
        if cls:
            extra = (f", test accuracy {_pct(best.get('test_accuracy'))}, test macro-F1 "
                     f"{_pct(best['test_f1'])}")
        if best["test_f1"] is None:
            extra = ", no test split"
        print(f"best student: round {best['round']} (dev F1 {_pct(best['dev_f1'])}{extra})")
    print(f"stopped: {result.stop_reason or 'done'}; outputs in {result.run_dir}")


def _quiet_libraries() -> None:
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
    _quiet_libraries()
    from graph.run import run_loop
    from teacher import TeacherUnavailable

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
    from graph.estimate import estimate_run, estimate_table, token_counter
    from tasks.sampler import seed_examples

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
    _quiet_libraries()
    from graph.seeds import run_seeds

    return run_seeds(config, args.seeds, api_key=os.environ.get("OPENAI_API_KEY", "")
                     or "unused", show_progress=not args.quiet,
                     per_run=lambda result: print_summary(result, config.spec.kind))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 internal error, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module, function = SUBCOMMANDS[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:])
    args = build_parser().parse_args(argv)
    run_dir = args.resume or args.run_dir
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
