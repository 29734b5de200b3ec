"""The report's figures: matplotlib PNGs, base64-encoded for embedding in one page (nothing is
loaded from outside). Each ``plot_*`` takes the runs and returns the PNG; its docstring's first
line is the figure's heading."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from evokd.inspection.record import RunRecord, drops_per_round, samples_per_label


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


def _percents(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    """``rows[i][key]`` in %, NaN (a gap in a plot) where it is missing or None."""
    return [100 * r[key] if isinstance(r.get(key), (int, float)) else float("nan") for r in rows]


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

