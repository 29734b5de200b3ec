"""``python main.py view RUN_DIR``: a web page of one run, served on 127.0.0.1.

The page (``inspection/templates/view.html.j2``, Jinja2 with autoescaping: LLM text is always
escaped) shows the loop graph drawn from graph.mmd as inline SVG (no online service, nothing
from a CDN), one card per round and, when ``inspection/report.py`` has written them, the run's
report and plots (served from the run directory under ``/files/``). The page is rebuilt on
every request, so reloading follows a run in progress. Ctrl-C stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from evokd.core.cli import run_command
from evokd.core.errors import UserError
from evokd.core.rundir import SCRATCH_DIRS, RunDir
from evokd.inspection.mermaid import parse_mermaid, render_svg
from evokd.inspection.runlog import RoundLog, RunLog, enabled_roles, load_run, run_dir_parser
from evokd.inspection.samples import drop_text, entity_segments, sample_label

HOST = "127.0.0.1"
TEMPLATES = Path(__file__).resolve().parent / "templates"
SERVED_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".html", ".css")
MAX_SAMPLES, MAX_FEEDBACK = 60, 12


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "-"


def report_files(run_dir: Path) -> dict[str, Any]:
    """The report and plot images in the run directory (top level and one folder down)."""
    images: list[str] = []
    candidates = sorted(run_dir.glob("*.*")) + sorted(
        p for d in sorted(run_dir.iterdir()) if d.is_dir() and d.name not in SCRATCH_DIRS
        for p in d.glob("*.*"))
    for path in candidates:
        if path.is_file() and path.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg"):
            images.append(path.relative_to(run_dir).as_posix())
    report = RunDir(run_dir).report
    return {"report": report.name if report.is_file() else "", "images": images}


def _graph_svg(log: RunLog) -> tuple[Markup, list[dict[str, Any]]]:
    diagram = parse_mermaid(log.graph_mmd)
    totals = log.total_calls()
    badges = {role: f"{c.calls} call{'s' if c.calls != 1 else ''} · {c.total_tokens:,} tok"
              for role, c in totals.items()}
    visited = {node for entry in log.rounds for node in entry.nodes} | set(totals) | {
        "__start__", "__end__"}
    if log.stop_reason:
        visited.add("finish")
    classes = {name: ("llm " if name in totals else "") + (
        "visited" if name in visited else "unvisited") for name in diagram.nodes}
    edges = [{"source": e.source, "target": e.target, "conditional": e.conditional,
              "label": e.label} for e in diagram.edges]
    svg = render_svg(diagram, badges, classes) if diagram.nodes else ""
    return Markup(svg), edges  # render_svg escapes every text it writes


def _sample_view(sample: dict[str, Any]) -> dict[str, Any]:
    ner = sample.get("label") is None and isinstance(sample.get("tokens"), list)
    return {"segments": entity_segments(sample) if ner else [(str(sample.get("text", "")), None)],
            "label": sample_label(sample), "ner": ner,
            "intended": sample.get("intended_label")}


def _feedback_view(item: dict[str, Any]) -> dict[str, str]:
    def show(value: Any) -> str:
        if isinstance(value, list):
            return "; ".join(f"{e.get('type')}: {e.get('text')}" for e in value
                             if isinstance(e, dict)) or "(none)"
        return str(value)

    return {"text": str(item.get("text", "")), "gold": show(item.get("gold")),
            "predicted": show(item.get("predicted"))}


def _round_view(entry: RoundLog) -> dict[str, Any]:
    row = entry.metrics or {}
    feedback = entry.feedback or {}
    wrong, correct = feedback.get("wrong") or [], feedback.get("correct") or []
    counts = entry.feedback_counts or (
        {"correct": len(correct), "wrong": len(wrong)} if feedback else None)
    return {
        "number": entry.number,
        "duration": f"{entry.duration_s:.1f}s" if entry.duration_s is not None else "",
        "metrics": {
            "dev_f1": _pct(row.get("dev_f1")), "test_f1": _pct(row.get("test_f1")),
            "test_accuracy": _pct(row["test_accuracy"]) if "test_accuracy" in row else "",
            "tokens": f"{row.get('tokens', 0):,}", "best": bool(row.get("best")),
            "kept": row.get("kept"), "dropped": row.get("dropped"),
            "per_label": [(k, _pct(v)) for k, v in sorted((row.get("per_label_f1") or {}).items())],
        } if row else None,
        "notes": sorted(entry.notes.items()),
        "analysis": entry.analysis,
        "roles": [(role, c) for role, c in sorted(entry.roles.items())],
        "generated": entry.generated,
        "easy": [_sample_view(s) for s in entry.stance_samples("easy")[:MAX_SAMPLES]],
        "hard": [_sample_view(s) for s in entry.stance_samples("hard")[:MAX_SAMPLES]],
        "more_samples": max(0, len(entry.samples) - 2 * MAX_SAMPLES),
        "drop_reasons": sorted(entry.drop_reasons().items()),
        "drops": [{"reason": str(d.get("reason", "?")), "role": str(d.get("role", "?")),
                   "text": drop_text(d), "detail": str(d.get("detail") or ""),
                   "raw": str(d.get("raw") or "")} for d in entry.drops],
        "feedback_counts": counts,
        "feedback_wrong": [_feedback_view(x) for x in wrong[:MAX_FEEDBACK] if isinstance(x, dict)],
        "feedback_total_wrong": len(wrong),
    }


def render_page(run_dir: Path | str) -> str:
    """The HTML page of the run in ``run_dir``.

    Raises:
        UserError: ``run_dir`` is not a readable run directory.
    """
    log = load_run(run_dir)
    svg, edges = _graph_svg(log)
    config = log.config
    teacher = config.get("teacher_info") or {}
    starts = [datetime.fromtimestamp(s["ts"]).strftime("%Y-%m-%d %H:%M:%S")
              for s in log.starts if isinstance(s.get("ts"), (int, float))]
    totals = sorted(log.total_calls().items())
    return _environment().get_template("view.html.j2").render(
        run_dir=str(log.path), config=config, roles_on=enabled_roles(config),
        model=teacher.get("model") or config.get("model"),
        starts=starts, stop_reason=log.stop_reason, bad_lines=log.bad_lines,
        graph_svg=svg, edges=edges, totals=totals, total_calls=sum(c.calls for _, c in totals),
        total_tokens=sum(c.total_tokens for _, c in totals),
        rounds=[_round_view(r) for r in log.rounds], files=report_files(log.path),
        engine_lines=[counters.summary() for counters in log.teacher_engine],
    )


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


def local_host(header: str | None) -> bool:
    """Whether a ``Host`` header names this machine (127.0.0.1 or localhost, any port): a page
    reached under another name (DNS rebinding) is refused, so no web site can read it."""
    host = (header or "").rsplit(":", 1)[0] if not (header or "").endswith("]") else ""
    return host.lower() in LOCAL_HOSTS


@web.middleware
async def _local_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if not local_host(request.headers.get("Host")):
        return web.Response(status=421, text="evokd view answers only 127.0.0.1 and localhost\n")
    return await handler(request)


def make_app(run_dir: Path) -> web.Application:
    """The aiohttp app: ``/`` the page, ``/files/<path>`` the report and plots; requests
    whose ``Host`` is not 127.0.0.1 or localhost get 421."""
    root = run_dir.resolve()

    async def page(_: web.Request) -> web.Response:
        try:
            body = await asyncio.to_thread(render_page, root)
        except UserError as exc:
            return web.Response(status=500, text=f"evokd view: {exc}\n")
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def files(request: web.Request) -> web.StreamResponse:
        path = (root / request.match_info["path"]).resolve()
        if (not path.is_relative_to(root) or path.suffix.lower() not in SERVED_SUFFIXES
                or not path.is_file()):
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    app = web.Application(middlewares=[_local_only])
    app.router.add_get("/", page)
    app.router.add_get("/files/{path:.+}", files)
    return app


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
        raise UserError(f"port {port} {reason}; pick another --port or leave it out") from None
    sock.listen(128)
    return sock


async def serve(run_dir: Path, sock: socket.socket) -> None:
    """Serve the page on ``sock`` until cancelled (Ctrl-C)."""
    runner = web.AppRunner(make_app(run_dir), access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def view_main(argv: Sequence[str]) -> int:
    """``main.py view RUN_DIR [--port N]``: print the URL, serve until Ctrl-C; exit 2 on a bad
    run dir or port."""
    parser = run_dir_parser("view", "A web page of a run on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    return run_command(parser, argv, _view)


def _view(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    render_page(run_dir)  # fail early, with one line, on a bad run dir
    sock = _bind(args.port)
    print(f"evokd view: http://{HOST}:{sock.getsockname()[1]}/  (Ctrl-C stops)", flush=True)
    try:
        asyncio.run(serve(run_dir, sock))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
