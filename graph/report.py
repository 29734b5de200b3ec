"""report.html: one self-contained page of plots and tables for a run, or for several runs.

    python main.py report RUN_DIR              -> RUN_DIR/report.html
    python main.py report RUN_A RUN_B [...]    -> RUN_A/compare.html (or --out FILE)

Plots (matplotlib PNGs embedded as base64 data URIs; the page loads nothing from outside):
dev/test F1 per round; test F1 against cumulative teacher tokens (the paper's Figure 3, every
run on one chart); generated samples per label per round (Figure 4: entity mentions per type
for NER, texts per label for classification); dropped samples per reason per round; per-label
test F1 of the best student. Then a table of the rounds of each run.

Read from the run directory: config.json, metrics.jsonl (required), synthetic.jsonl and
trace.jsonl (optional). ``write_report`` is what a finished run calls.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from tasks.errors import UserError

REPORT_NAME = "report.html"
COMPARE_NAME = "compare.html"
ABLATIONS = (("easy", "no-easy"), ("correct_samples", "no-correct"), ("history", "no-history"),
             ("separate_labeling", "no-separate-labeling"), ("critic", "no-critic"))


@dataclass
class RunRecord:
    """What the report reads from one run directory."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    synthetic: list[dict[str, Any]] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """``"ner"`` or ``"cls"`` (from the stored task, else from the metrics)."""
        stored = self.config.get("task_spec")
        if isinstance(stored, dict) and stored.get("kind") in ("ner", "cls"):
            return str(stored["kind"])
        from tasks import builtin_names, resolve_task

        if self.config.get("task") in builtin_names():
            return resolve_task(str(self.config["task"]), Path(".")).kind
        return "cls" if any("test_accuracy" in row for row in self.metrics) else "ner"

    @property
    def strategy(self) -> str:
        """The strategy and the ablations that were switched off, e.g. ``evokd, no-easy``."""
        parts = [str(self.config.get("strategy", "evokd"))]
        parts += [flag for key, flag in ABLATIONS if self.config.get(key, True) is False]
        return ", ".join(parts)

    @property
    def label(self) -> str:
        """How the run is named in legends: directory name and strategy."""
        return f"{self.path.name} ({self.strategy})"

    @property
    def best(self) -> dict[str, Any]:
        """The metrics row of the best student (highest dev F1, earliest round on ties)."""
        return max(self.metrics, key=lambda r: (r.get("dev_f1", 0.0), -r.get("round", 0)))

    @property
    def stop_reason(self) -> str:
        """Why the run stopped (from the trace's last ``run_end``), or ""."""
        ends = [e for e in self.trace if e.get("event") == "run_end"]
        return str(ends[-1].get("stop_reason", "")) if ends else ""


def _read_jsonl(path: Path, required: bool) -> list[dict[str, Any]]:
    if not path.exists():
        if required:
            raise UserError(f"{path.parent} is not a finished run directory (no {path.name})")
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if required:
                raise UserError(f"{path}:{number}: not JSON ({exc.msg})") from None
            continue  # a torn last line of a trace is not worth failing over
        if isinstance(row, dict):
            rows.append(row)
        elif required:
            raise UserError(f"{path}:{number}: expected a JSON object")
    return rows


def load_run(path: Path) -> RunRecord:
    """Read a run directory; UserError (one line) when it is missing or malformed."""
    if not path.is_dir():
        raise UserError(f"{path} is not a directory")
    config_path = path / "config.json"
    if not config_path.exists():
        raise UserError(f"{path} is not a run directory (no config.json)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{config_path}: not JSON ({exc.msg})") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_path}: expected a JSON object")
    metrics = _read_jsonl(path / "metrics.jsonl", required=True)
    for number, row in enumerate(metrics, 1):
        missing = [key for key in ("round", "dev_f1", "test_f1") if key not in row]
        if missing:
            raise UserError(f"{path / 'metrics.jsonl'}:{number}: missing {', '.join(missing)}")
    if not metrics:
        raise UserError(f"{path / 'metrics.jsonl'} records no rounds")
    return RunRecord(path, config, metrics, _read_jsonl(path / "synthetic.jsonl", False),
                     _read_jsonl(path / "trace.jsonl", False))


# -- counting ---------------------------------------------------------------------------------


def samples_per_label(run: RunRecord) -> dict[int, Counter[str]]:
    """Per round: entity mentions per type (NER, from the IOB2 tags) or texts per label."""
    counts: dict[int, Counter[str]] = {}
    for sample in run.synthetic:
        per_round = counts.setdefault(int(sample.get("round", 0)), Counter())
        if run.kind == "cls":
            per_round[str(sample.get("label"))] += 1
            continue
        previous = "O"
        for tag in sample.get("tags") or []:
            tag = str(tag)
            if tag.startswith("B-") or (tag.startswith("I-") and previous[2:] != tag[2:]):
                per_round[tag[2:]] += 1
            previous = tag
    return counts


def drops_per_round(run: RunRecord) -> dict[int, dict[str, int]]:
    """Per round: dropped samples by reason (metrics.jsonl's ``drop_reasons``)."""
    return {int(r["round"]): dict(r.get("drop_reasons") or {}) for r in run.metrics
            if r["round"] > 0}


def calls_per_round(run: RunRecord) -> dict[int, Counter[str]]:
    """Per round: LLM calls (``calls``) and how many the cache answered (``cached``)."""
    out: dict[int, Counter[str]] = {}
    for event in run.trace:
        if event.get("event") == "llm_call":
            row = out.setdefault(int(event.get("round") or 0), Counter())
            row["calls"] += 1
            row["cached"] += bool(event.get("cached"))
    return out


# -- plots ------------------------------------------------------------------------------------


def _figure(width: float = 7.0, height: float = 3.6, ncols: int = 1) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap, size = (colormaps["tab10"], 10) if n <= 10 else (colormaps["tab20"], 20)
    return [cmap(i % size) for i in range(n)]


def plot_f1_per_round(runs: Sequence[RunRecord]) -> str:
    """Dev (dashed) and test (solid) F1 per round; circles mark a new best student."""
    fig, (ax,) = _figure()
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        rounds = [r["round"] for r in run.metrics]
        prefix = f"{run.label}: " if len(runs) > 1 else ""
        ax.plot(rounds, _percents(run.metrics, "test_f1"), "-", color=color,
                marker=".", label=f"{prefix}test F1")
        ax.plot(rounds, [100 * r["dev_f1"] for r in run.metrics], "--", color=color,
                label=f"{prefix}dev F1")
        best = [r for r in run.metrics if r.get("best")]
        ax.plot([r["round"] for r in best], [100 * r["dev_f1"] for r in best], "o",
                color=color, fillstyle="none")
    ax.set_xlabel("round")
    ax.set_ylabel("F1 (%)" if runs[0].kind == "ner" else "macro-F1 (%)")
    ax.set_title("F1 per round (o: new best student by dev F1)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small")
    return _png(fig)


def plot_f1_vs_tokens(runs: Sequence[RunRecord]) -> str:
    """Test F1 (dev F1 for a task without a test split) against the teacher tokens spent so
    far, every run on one chart."""
    fig, (ax,) = _figure()
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        key = "test_f1" if any(r.get("test_f1") is not None for r in run.metrics) else "dev_f1"
        ax.plot([r.get("tokens", 0) for r in run.metrics], _percents(run.metrics, key), "-o",
                color=color, label=run.label + (" (dev: no test split)" if key == "dev_f1" else ""),
                markersize=4)
    ax.set_xlabel("cumulative teacher tokens")
    ax.set_ylabel("test F1 (%)" if runs[0].kind == "ner" else "test macro-F1 (%)")
    ax.set_title("Test F1 against teacher tokens")
    ax.legend(fontsize="small")
    return _png(fig)


def _stacked_bars(ax: Any, per_round: dict[int, dict[str, int]], colors: dict[str, Any],
                  empty: str) -> None:
    rounds = sorted(per_round)
    keys = [k for k in colors if any(counts.get(k) for counts in per_round.values())]
    if not rounds or not keys:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        return
    bottom = [0] * len(rounds)
    for key in keys:
        heights = [per_round[r].get(key, 0) for r in rounds]
        ax.bar(rounds, heights, bottom=bottom, color=colors[key], label=key)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(rounds)
    ax.set_xlabel("round")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _per_run_bars(runs: Sequence[RunRecord], data: list[dict[int, dict[str, int]]], title: str,
                  ylabel: str, empty: str) -> str:
    keys = sorted({k for per_round in data for counts in per_round.values() for k in counts})
    colors = dict(zip(keys, _colors(len(keys)), strict=True))  # one colour per key everywhere
    fig, axes = _figure(width=max(7.0, 4.0 * len(runs)), ncols=len(runs))
    for ax, run, per_round in zip(axes, runs, data, strict=True):
        _stacked_bars(ax, per_round, colors, empty)
        ax.set_ylabel(ylabel)
        ax.set_title(run.label if len(runs) > 1 else title, fontsize="medium")
    if len(runs) > 1:
        fig.suptitle(title)
    return _png(fig)


def plot_samples_per_label(runs: Sequence[RunRecord]) -> str:
    """Generated (accepted) samples per label and round, one panel per run."""
    ner = runs[0].kind == "ner"
    return _per_run_bars(
        runs, [dict(samples_per_label(run)) for run in runs],
        "Generated samples per label" + (" (entity mentions per type)" if ner else ""),
        "entity mentions" if ner else "texts", "no synthetic samples")


def plot_drop_reasons(runs: Sequence[RunRecord]) -> str:
    """Dropped samples per reason and round, one panel per run."""
    return _per_run_bars(runs, [drops_per_round(run) for run in runs],
                         "Dropped samples per reason", "samples dropped", "no samples dropped")


def plot_per_label_f1(runs: Sequence[RunRecord]) -> str:
    """Per-label test F1 of each run's best student, grouped by label."""
    fig, (ax,) = _figure()
    labels = sorted({k for run in runs for k in run.best.get("per_label_f1") or {}})
    width = 0.8 / len(runs)
    for i, (run, color) in enumerate(zip(runs, _colors(len(runs)), strict=True)):
        scores = run.best.get("per_label_f1") or {}
        ax.bar([j + i * width for j in range(len(labels))],
               [100 * scores.get(label, 0.0) for label in labels], width, color=color,
               label=f"{run.label}, round {run.best['round']}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], labels)
    ax.set_ylabel("test F1 (%)")
    ax.set_title("Per-label test F1 of the best student")
    ax.legend(fontsize="small")
    return _png(fig)


PLOTS = (plot_f1_per_round, plot_f1_vs_tokens, plot_samples_per_label, plot_drop_reasons,
         plot_per_label_f1)


# -- HTML -------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
.meta { color: #555; }
"""


def _percents(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    """``rows[i][key]`` in %, NaN (a gap in a plot) where it is missing or None."""
    return [100 * r[key] if isinstance(r.get(key), (int, float)) else float("nan") for r in rows]


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
        c = calls.get(r["round"], Counter())
        cells = [_cell(r["round"]), _cell(_pct(r["dev_f1"])), _cell(_pct(r["test_f1"]))]
        if cls:
            cells.append(_cell(_pct(r.get("test_accuracy"))))
        cells += [_cell(r.get("kept", "")), _cell(r.get("dropped", "")), _cell(reasons, True),
                  _cell(f"{r.get('tokens', 0):,}" + (f" (cost {r['cost']:.4f})" if "cost" in r
                                                     else "")),
                  _cell(f"{c['calls']} ({c['cached']})"),
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
        parts.append(f"<h2>{html.escape(plot.__doc__.splitlines()[0])}</h2>")
        parts.append(f'<img alt="{plot.__name__}" src="data:image/png;base64,{plot(runs)}">')
    for run in runs:
        parts.append(f"<h2>Rounds: {html.escape(run.label)}</h2>{rounds_table(run)}")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(run_dirs: Sequence[Path], out: Path | None = None) -> Path:
    """Write the report of ``run_dirs`` (default: DIR/report.html, or FIRST/compare.html)."""
    runs = [load_run(Path(d)) for d in run_dirs]
    if out is None:
        out = runs[0].path / (REPORT_NAME if len(runs) == 1 else COMPARE_NAME)
    text = render_html(runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


def report_after_run(run_dir: Path) -> Path | None:
    """What a finished run calls: write report.html; a failure is one line on stderr."""
    try:
        return write_report([run_dir])
    except Exception as exc:  # drawing must never fail the run
        print(f"evokd: report.html not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"evokd report: error: {message} (see --help)\n")


def report_main(argv: Sequence[str]) -> int:
    """``python main.py report RUN_DIR... [--out FILE]``; 0 ok, 2 bad input."""
    parser = _Parser(prog="main.py report", description="Write the HTML report of runs: one "
                     "run -> RUN_DIR/report.html; several -> a comparison, by default "
                     f"FIRST_RUN_DIR/{COMPARE_NAME}.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--out", default=None, metavar="FILE", help="where to write the page")
    args = parser.parse_args(list(argv))
    try:
        path = write_report([Path(d) for d in args.run_dirs],
                            Path(args.out) if args.out else None)
    except UserError as exc:
        print(f"evokd report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0
