"""``python main.py trace RUN_DIR``: a terminal timeline of a run, round by round.

Per round: the optional roles' notes (the reviewer's memo with ``--reviewer``), the analysis,
LLM calls and tokens per role, samples generated / kept / dropped (with reasons and a few
examples), the student's feedback on the new batch, and dev/test F1. Colour only on a
terminal; piped output is plain text.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from evokd.core import trace
from evokd.core.cli import percent, run_command, visible
from evokd.inspection.runlog import RoundLog, RunLog, enabled_roles, load_run, run_dir_parser
from evokd.inspection.samples import drop_text

INDENT = "  "


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class _Writer:
    """Collects styled lines; LLM-written text always goes in as plain ``Text`` (no markup),
    with its control characters made visible (no escape sequence reaches the terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def line(self, *parts: str | tuple[str, str], indent: int = 0) -> None:
        text = Text(INDENT * indent)
        for part in parts:
            if isinstance(part, tuple):
                text.append(visible(part[0]), style=part[1])
            else:
                text.append(visible(part))
        # wrap on a terminal; piped output keeps one line per item (grep-friendly)
        wrap = self.console.is_terminal
        self.console.print(text, overflow="fold" if wrap else "ignore", soft_wrap=not wrap,
                           crop=wrap, highlight=False)


def _header(out: _Writer, log: RunLog) -> None:
    cfg = log.config
    teacher = cfg.get("teacher_info") or {}
    model = teacher.get("model") or cfg.get("model") or "?"
    out.line(("run ", "bold"), (str(log.path), "bold"))
    out.line(f"task {cfg.get('task', '?')}, k-shot {cfg.get('k_shot', '?')}, "
             f"rounds {cfg.get('rounds', '?')}, {cfg.get('samples_per_round', '?')} samples/round,"
             f" seed {cfg.get('seed', '?')}, teacher {cfg.get('teacher', '?')} ({model})"
             + "".join(f", {role} on" for role in enabled_roles(cfg)), indent=1)
    for start in log.starts:
        ts = start.get("ts")
        when = datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if isinstance(
            ts, (int, float)) else "?"
        out.line(f"{'resumed' if start.get('resume') else 'started'} {when}", indent=1)


def _calls(out: _Writer, entry: RoundLog) -> None:
    if not entry.roles:
        return
    out.line(("calls", "cyan"), indent=1)
    out.line(f"{'role':<12}{'calls':>6}{'cached':>7}{'failed':>7}{'prompt tok':>11}"
             f"{'compl. tok':>11}{'latency s':>10}", indent=2)
    for role, calls in sorted(entry.roles.items()):
        out.line(f"{role:<12}{calls.calls:>6}{calls.cached:>7}{calls.failed:>7}"
                 f"{calls.prompt_tokens:>11,}{calls.completion_tokens:>11,}"
                 f"{calls.latency_s:>10.2f}", indent=2)


def _samples(out: _Writer, entry: RoundLog, max_drops: int, width: int) -> None:
    reasons = entry.drop_reasons()
    kept = (entry.metrics or {}).get("kept", len(entry.samples))
    picked = entry.selected or {}
    pool = len(entry.stance_samples("pool"))
    parts = [f"picked {trace.whole_number(picked.get('picked'))} of "
             f"{trace.whole_number(picked.get('scanned')):,} pool texts ({picked.get('method')})"
             if picked else "",
             f"generated {entry.generated}" if entry.generated is not None else "",
             f"kept {kept} (easy {len(entry.stance_samples('easy'))}, "
             f"hard {len(entry.stance_samples('hard'))}" + (f", pool {pool}" if pool else "")
             + ")",
             f"dropped {sum(reasons.values())}"]
    out.line(("samples ", "cyan"), ", ".join(p for p in parts if p), indent=1)
    if reasons:
        out.line("drop reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
                 indent=2)
    for drop in entry.drops[:max_drops]:
        text = drop_text(drop)
        detail = str(drop.get("detail") or "")
        out.line((f"- {drop.get('reason', '?')}", "yellow"), f" [{drop.get('role', '?')}] ",
                 _clip(text or "(whole reply)", width // 2),
                 f"  — {_clip(detail, 4 * width)}" if detail else "", indent=2)
    if len(entry.drops) > max_drops:
        out.line(f"… {len(entry.drops) - max_drops} more drops (--max-drops N)", indent=2)


def _round(out: _Writer, entry: RoundLog, max_drops: int, width: int) -> None:
    took = f"  ({entry.duration_s:.1f}s)" if entry.duration_s is not None else ""
    title = "round 0 (seed student)" if entry.number == 0 else f"round {entry.number}"
    out.line((title, "bold magenta"), took)
    for role, note in sorted(entry.notes.items()):
        text = note.get("text") or f"(no usable reply: {note.get('error')})"
        out.line((f"{role} ", "cyan"), _clip(str(text), 4 * width), indent=1)
    if entry.analysis:
        analysis = entry.analysis
        mark = " (fallback: no usable LLM reply)" if analysis.get("fallback") else ""
        out.line(("analysis ", "cyan"), _clip(str(analysis.get("summary", "")), 4 * width),
                 mark, indent=1)
        weak = ", ".join(map(str, analysis.get("weak_labels") or [])) or "-"
        out.line(f"weak labels: {weak}", indent=2)
        for pattern in analysis.get("patterns") or []:
            out.line(f"- {_clip(str(pattern), width)}", indent=2)
    _calls(out, entry)
    if entry.number > 0:
        _samples(out, entry, max_drops, width)
    if entry.feedback_counts:
        counts = entry.feedback_counts
        out.line(("feedback ", "cyan"), f"before training on the batch the student got "
                 f"{counts['correct']} right, {counts['wrong']} wrong", indent=1)
    elif entry.number == 0 and entry.feedback:
        right, wrong = (len(entry.feedback.get(k) or []) for k in ("correct", "wrong"))
        out.line(("feedback ", "cyan"), f"on the seed set the student got {right} right, "
                 f"{wrong} wrong (round 1's input)", indent=1)
    row = entry.metrics
    if row:
        acc = f"  test acc {percent(row['test_accuracy'])}" if "test_accuracy" in row else ""
        best = "  best so far" if row.get("best") else ""
        out.line(("metrics ", "cyan"), (f"dev F1 {percent(row.get('dev_f1'))}", "bold green"),
                 f"  test F1 {percent(row.get('test_f1'))}{acc}  tokens {row.get('tokens', 0):,}"
                 f"{best}", indent=1)
        per_label = row.get("per_label_f1") or {}
        if per_label:
            out.line("test F1 per label: " + ", ".join(
                f"{k} {percent(v)}" for k, v in sorted(per_label.items())), indent=2)
    elif entry.number > 0:
        out.line(("metrics ", "cyan"), "(round not finished)", indent=1)


def _footer(out: _Writer, log: RunLog) -> None:
    totals = log.total_calls()
    calls = sum(c.calls for c in totals.values())
    tokens = sum(c.total_tokens for c in totals.values())
    per_role = ", ".join(f"{role} {c.calls}" for role, c in sorted(totals.items()))
    out.line(("total ", "bold"), f"{calls} LLM calls" + (f" ({per_role})" if per_role else "")
             + f", {tokens:,} tokens")
    for counters in log.teacher_engine:
        out.line(("local teacher ", "bold"), counters.summary())
    out.line(("stopped ", "bold"), log.stop_reason or "(no run_end yet: running or interrupted)")
    if log.bad_lines:
        out.line(f"note: {log.bad_lines} unreadable line(s) skipped", indent=0)


def write_timeline(log: RunLog, console: Console, max_drops: int = 5) -> None:
    """Print the timeline of ``log`` on ``console``."""
    out = _Writer(console)
    width = max(60, console.width)
    _header(out, log)
    if not log.rounds:
        out.line("(no rounds recorded yet)", indent=1)
    for entry in log.rounds:
        out.line("")
        _round(out, entry, max_drops, width)
    out.line("")
    _footer(out, log)


def render_timeline(run_dir: Path | str, *, color: bool = False, width: int = 100,
                    max_drops: int = 5) -> str:
    """The timeline of the run in ``run_dir`` as a string (no colour codes unless ``color``)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None)
    write_timeline(load_run(run_dir), console, max_drops=max_drops)
    return buffer.getvalue()


def trace_main(argv: Sequence[str]) -> int:
    """``main.py trace RUN_DIR [--max-drops N]``; exit 2 with one line on a bad run dir."""
    parser = run_dir_parser("trace", "Timeline of a run, round by round.")
    parser.add_argument("--max-drops", type=int, default=5, help="dropped samples listed per round")
    return run_command(parser, argv, _trace)


def _trace(args: argparse.Namespace) -> int:
    log = load_run(args.run_dir)
    console = Console(highlight=False)
    try:
        write_timeline(log, console, max_drops=max(0, args.max_drops))
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0
