"""report.html: one self-contained page of plots and tables for a run, or for several runs.

    python main.py report RUN_DIR              -> RUN_DIR/report.html
    python main.py report RUN_A RUN_B [...]    -> RUN_A/compare.html (or --out FILE)

Plots (matplotlib PNGs embedded as base64 data URIs; the page loads nothing from outside):
dev/test F1 per round; test F1 against cumulative teacher tokens (the paper's Figure 3, every
run on one chart); generated samples per label per round (Figure 4: entity mentions per type
for NER, texts per label for classification); dropped samples per reason per round; per-label
test F1 of the best student (``figures``). Then a table of the rounds of each run.

Read from the run directory (``record``): config.json, metrics.jsonl (required),
synthetic.jsonl and trace.jsonl (optional). ``write_report`` is what a finished run calls.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evokd.core.cli import UsageParser, run_command
from evokd.core.rundir import RunDir
from evokd.inspection.figures import PLOTS
from evokd.inspection.record import RunRecord, calls_per_round, load_record
from evokd.inspection.runlog import RoleCalls

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
.meta { color: #555; }
"""


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else ""


def _cell(value: Any, left: bool = False) -> str:
    attr = ' class="l"' if left else ""
    return f"<td{attr}>{html.escape(str(value))}</td>"


def rounds_table(run: RunRecord) -> str:
    """The rounds of one run as an HTML table (class ``rounds``)."""
    cls = run.kind == "cls"
    calls = calls_per_round(run)
    head = ["round", "dev F1", "test F1", *(["test acc"] if cls else []), "kept", "dropped",
            "drop reasons", "tokens", "LLM calls (cached)", "best"]
    rows = []
    for r in run.metrics:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted((r.get("drop_reasons") or {}).items()))
        c = calls.get(r["round"], RoleCalls())
        cells = [_cell(r["round"]), _cell(_pct(r["dev_f1"])), _cell(_pct(r["test_f1"]))]
        if cls:
            cells.append(_cell(_pct(r.get("test_accuracy"))))
        cells += [_cell(r.get("kept", "")), _cell(r.get("dropped", "")), _cell(reasons, True),
                  _cell(f"{r.get('tokens', 0):,}" + (f" (cost {r['cost']:.4f})" if "cost" in r
                                                     else "")),
                  _cell(f"{c.calls} ({c.cached})"),
                  _cell("*" if r.get("best") else "")]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table class="rounds"><tr>{header}</tr>{"".join(rows)}</table>'


def _summary_table(runs: Sequence[RunRecord]) -> str:
    head = ["run", "task", "strategy", "seed", "k-shot", "rounds", "tokens", "best round",
            "dev F1", "test F1", "stopped"]
    rows = []
    for run in runs:
        best, c = run.best, run.config
        cells = [_cell(run.path.name, True), _cell(c.get("task", "")), _cell(run.strategy, True),
                 _cell(c.get("seed", "")), _cell(c.get("k_shot") or "all"),
                 _cell(run.metrics[-1]["round"]), _cell(f"{run.metrics[-1].get('tokens', 0):,}"),
                 _cell(best["round"]), _cell(_pct(best["dev_f1"])),
                 _cell(_pct(best["test_f1"])), _cell(run.stop_reason, True)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table class="summary"><tr>{header}</tr>{"".join(rows)}</table>'


def render_html(runs: Sequence[RunRecord]) -> str:
    """The whole page for ``runs`` (one run: its report; several: a comparison)."""
    if not runs:
        raise ValueError("render_html needs at least one run")
    title = (f"evokd report: {runs[0].path.name}" if len(runs) == 1
             else f"evokd comparison: {', '.join(r.path.name for r in runs)}")
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
             f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    teacher = runs[0].config.get("teacher_info") or {}
    parts.append(f'<p class="meta">teacher: {html.escape(str(teacher.get("model", "-")))}; '
                 "F1 is entity-level micro F1 (NER) or macro-F1 (classification), in %.</p>")
    parts.append(_summary_table(runs))
    for plot in PLOTS:
        parts.append(f"<h2>{html.escape((plot.__doc__ or plot.__name__).splitlines()[0])}</h2>")
        parts.append(f'<img alt="{plot.__name__}" src="data:image/png;base64,{plot(runs)}">')
    for run in runs:
        parts.append(f"<h2>Rounds: {html.escape(run.label)}</h2>{rounds_table(run)}")
        parts += [f'<p class="meta">local teacher: {html.escape(counters.summary())}</p>'
                  for counters in run.log.teacher_engine]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(run_dirs: Sequence[Path], out: Path | None = None) -> Path:
    """Write the report of ``run_dirs`` (default: DIR/report.html, or FIRST/compare.html)."""
    runs = [load_record(Path(d)) for d in run_dirs]
    if out is None:
        first = RunDir(runs[0].path)
        out = first.report if len(runs) == 1 else first.compare
    RunDir(out.parent).write_text(out, render_html(runs))
    return out


def report_after_run(run_dir: Path) -> Path | None:
    """What a finished run calls: write report.html; a failure is one line on stderr."""
    try:
        return write_report([run_dir])
    except Exception as exc:  # drawing must never fail the run
        print(f"evokd: report.html not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def report_main(argv: Sequence[str]) -> int:
    """``python main.py report RUN_DIR... [--out FILE]``; 0 ok, 2 bad input."""
    parser = UsageParser(command="report", description="Write the HTML report of runs: one "
                         "run -> RUN_DIR/report.html; several -> a comparison, by default "
                         "FIRST_RUN_DIR/compare.html.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--out", default=None, metavar="FILE", help="where to write the page")
    return run_command(parser, argv, _report)


def _report(args: argparse.Namespace) -> int:
    path = write_report([Path(d) for d in args.run_dirs], Path(args.out) if args.out else None)
    print(f"report written to {path}")
    return 0
