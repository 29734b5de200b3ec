"""Is each EvoKD sample worth more than a generic one? The loop against its static baseline at
equal tokens and against random gold data, with a perfect teacher (bench/gold_teacher.py).

    python bench/data_efficiency.py --task conll03 --seeds 1-3 --out runs/efficiency-conll03 \
        [--rounds 4 --samples 50 --twice] [--quote K --follow --equal-samples] [--pool] \
        [--mixed] [--arms A,B,...] [--data-dir DIR] [any main.py flag after --]

For each seed, against a fresh gold teacher each time:
- ``evokd``: ``main.py`` with the loop (1-shot, json_schema output, ``--quote-errors 0``,
  everything else default);
- ``quote`` (with ``--quote K``): the loop with ``--quote-errors K`` (hard requests quote the
  student's mistakes);
- ``pool`` and ``pool_random`` (with ``--pool``): the loop picking real train texts, labels
  hidden, for the teacher to label (``--pool train``), with its selection and at random;
- ``pool_mixed`` (with ``--mixed``): ``--source mixed``, the hard quota picked from the pool,
  the easy quota written;
- ``pool_cold`` (only by ``--arms``): the pool selection with ``--cold-start random`` (round 1
  picks what ``pool_random`` picks, later rounds as ``pool``);
- ``pool_dense`` (only by ``--arms``): the pool selection with ``--later-picks dense`` (rounds
  after the first weigh the student's unsureness by how typical a text is);
- ``pool_total`` (only by ``--arms``): the pool selection with ``--later-picks total`` (rounds
  after the first take the texts with the most unsureness summed over their words);
- ``static``: ``--strategy static`` given the dearer writing EvoKD arm's token spend as
  ``--budget-tokens`` and more rounds, so the budget ends it (equal tokens);
- ``random-N``: the seed set + N random gold train sentences (N = the samples EvoKD kept; not
  seed examples), trained once from the backbone with the seed student's recipe
  (``--train-steps`` steps, batch 16); ``--twice`` adds ``random-2N`` (the aim: targeting
  halves the data a random teacher needs);
- ``pool-once``: the seed set + exactly the samples EvoKD kept, trained once the same way
  (``--no-pool-once`` skips it);
- ``--arms`` runs only the loop arms it names (e.g. ``--arms pool,pool_random`` for the pool
  comparison at about half the time a seed); without the EvoKD arm N and ``pool-once`` come
  from the first of the named arms in ``ARMS`` order (``n_arm`` in the row);
- with ``--equal-samples``: each arm's first N kept samples trained once the same way, N the
  fewest any arm kept (equal accepted samples).

``--follow`` makes every arm meet a teacher that follows what a request shows: each text it
returns is the train text most like one the request quotes (the mistakes of a quoting hard
request, else the seed examples a request shows as style examples; static requests show them
too), and its similarity is logged beside the run (``<arm>/seed-N-follow.jsonl``).

Prints, per seed and as mean ± std, test F1 (accuracy for classification) of the delivered
students and of the yardsticks; the paired differences between arms over the seeds with 95 %
t-intervals; and per arm the kept samples, teacher tokens, words, entity mentions, label mix
and the following teacher's similarity to its quotes; and a learning curve per arm (the mean
accepted samples and score of each round's student). Writes OUT/efficiency.json, which keeps
the rows of seeds measured by earlier invocations into the same OUT (``--seeds 5`` after
``--seeds 1-4`` prints the table of all five); a seed measured again gets the new columns and
keeps the ones this invocation did not measure (other arms), so arms can be added to a table
seed by seed. Each row names the commit it last ran on (``code``, ``-dirty`` when tracked files
had changes) and each arm the commit its columns came from (``<arm>_code``). A rerun skips
finished runs and yardsticks (unfinished runs start again). The rows behind BENCHMARKS.md's
tables are kept in ``bench/results/`` (run folders are not): copy one to
``OUT/efficiency.json`` and run further seeds or arms into OUT to extend its table.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.code_version import code_version  # noqa: E402
from bench.comparisons import bootstrap_text, mean_pm, paired_text, seeds_parser  # noqa: E402
from bench.fake_server import ServerProcess  # noqa: E402
from bench.static_vs_evokd import EXTRA_STATIC_ROUNDS, _finished, _metrics  # noqa: E402
from evokd.core.rundir import best_row  # noqa: E402


def _score(row: dict[str, Any], kind: str) -> float:
    """The reported figure of a metrics row or yardstick: test F1, accuracy for classification."""
    return float(row["test_accuracy"] if kind == "cls" else row["test_f1"])


def run_loop(args: argparse.Namespace, seed: int, strategy: str, run_dir: Path,
             extra: list[str]) -> dict[str, Any]:
    """One ``main.py`` run against a fresh gold teacher (skipped when already finished); with
    ``--follow`` the teacher follows what each request shows and logs it beside the run."""
    follow_log = run_dir.with_name(run_dir.name + "-follow.jsonl")
    if not _finished(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        follow_log.unlink(missing_ok=True)
        gold = (args.task, args.data_dir, 1, seed, *([str(follow_log)] if args.follow else []))
        with ServerProcess(responder="gold", gold=gold) as server:
            cmd = [sys.executable, str(ROOT / "main.py"), "--task", args.task, "--seed",
                   str(seed), "--k-shot", "1", "--rounds", str(args.rounds),
                   "--samples-per-round", str(args.samples), "--structured-method",
                   "json_schema", "--base-url", server.base_url, "--model", server.model,
                   "--no-cache", "--quiet", "--strategy", strategy, "--run-dir", str(run_dir),
                   *(["--data-dir", args.data_dir] if args.data_dir else []), *extra,
                   *args.passthrough]
            print("$", " ".join(cmd[1:]), flush=True)
            env = {**os.environ, "OPENAI_API_KEY": server.api_key}
            started = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
            (run_dir / "wall_s.txt").write_text(f"{time.perf_counter() - started:.0f}\n")
    metrics = _metrics(run_dir)
    best = best_row(metrics)
    wall = run_dir / "wall_s.txt"
    follows = [json.loads(line) for line in follow_log.read_text().splitlines() if line
               ] if follow_log.exists() else []
    return {"seed_score": metrics[0], "best": best, "tokens": metrics[-1]["tokens"],
            "metrics": metrics,
            "kept": sum(r.get("kept", 0) for r in metrics), "rounds": metrics[-1]["round"],
            "wall_s": int(wall.read_text()) if wall.exists() else None,
            "samples": _samples(run_dir), "follows": follows}


def learning_curve(metrics: list[dict[str, Any]], kind: str) -> list[list[float]]:
    """``[accepted samples so far, score]`` of each round's student (trained on the seed set
    and every sample accepted up to that round)."""
    kept = itertools.accumulate(r.get("kept", 0) for r in metrics)
    return [[n, _score(r, kind)] for n, r in zip(kept, metrics, strict=True)
            if r["round"] and r.get(_SCORE_KEY[kind]) is not None]


_SCORE_KEY = {"ner": "test_f1", "cls": "test_accuracy"}


def _samples(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "synthetic.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line
            ] if path.exists() else []


def costs(samples: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """What an arm's kept samples hold: words, entity mentions (NER) and the label mix (entity
    types for NER, classes for classification)."""
    if kind == "ner":
        mix = Counter(tag[2:] for s in samples for tag in s["tags"] if tag.startswith("B-"))
        words = sum(len(s["tokens"]) for s in samples)
    else:
        mix = Counter(s["label"] for s in samples)
        words = sum(len(s["text"].split()) for s in samples)
    return {"words": words, "mentions": sum(mix.values()) if kind == "ner" else None,
            "mix": dict(sorted(mix.items()))}


def train_once(task: str, data_dir: str | None, seed: int, extra: list[dict[str, Any]],
               steps: int, learning_rate: float | None = None,
               backbone: str | None = None) -> dict[str, Any]:
    """The seed set + ``extra`` trained once from the backbone (the default student's unless
    given; ``steps`` steps of 16, training seed ``seed`` × 1000, the recipe's learning rate
    unless given); test and dev scores."""
    from evokd.student import DEFAULT_STUDENT, Student, TrainSettings
    from evokd.student.hardware import DEFAULT_MAX_LENGTH, resolve_hardware
    from evokd.tasks import load_task_data, resolve_data_dir, resolve_task
    from evokd.tasks.sampler import seed_examples

    spec = resolve_task(task, resolve_data_dir(data_dir))
    data = load_task_data(spec)
    seeds = seed_examples(spec, data, 1, seed)
    hardware = resolve_hardware("auto", "auto", DEFAULT_MAX_LENGTH[spec.kind])
    student = Student.create(spec, backbone or DEFAULT_STUDENT, seed, hardware)
    settings = TrainSettings(min_steps=steps, seed=seed * 1000)
    if learning_rate is not None:
        settings = dataclasses.replace(settings, learning_rate=learning_rate)
    started = time.perf_counter()
    student.train(seeds + extra, settings)
    dev = student.evaluate(data.dev)
    test = student.evaluate(data.test) if data.test else dev
    return {"n": len(extra), "dev_f1": dev["f1"], "test_f1": test["f1"],
            "dev_accuracy": dev.get("accuracy"), "test_accuracy": test.get("accuracy"),
            "wall_s": round(time.perf_counter() - started)}


def yardstick(args: argparse.Namespace, seed: int, name: str, extra: list[dict[str, Any]],
              out: Path) -> dict[str, Any]:
    """Seed set + ``extra`` trained once from the backbone; test and dev scores (cached)."""
    path = out / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = {"name": name, **train_once(args.task, args.data_dir, seed, extra,
                                         args.train_steps)}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result) + "\n")
    return result


def random_gold(args: argparse.Namespace, seed: int, n: int) -> list[dict[str, Any]]:
    """``n`` random train examples that are not in the seed set (seeded)."""
    from evokd.samples.rules import text_key
    from evokd.tasks import load_task_data, resolve_data_dir, resolve_task
    from evokd.tasks.sampler import seed_examples

    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    data = load_task_data(spec)
    taken = {text_key(spec.example_text(s)) for s in seed_examples(spec, data, 1, seed)}
    pool = [ex for ex in data.train if text_key(spec.example_text(ex)) not in taken]
    return random.Random(seed * 7919 + n).sample(pool, min(n, len(pool)))


# quote: EvoKD with --quote-errors (with --quote K); pool, pool_random: EvoKD picking train
# texts with its selection or at random (with --pool); pool_mixed: hard quota picked, easy
# written (with --mixed); pool_cold: the selection after a random round 1, pool_dense: later
# picks weighed by typicality, pool_total: later picks by unsureness summed over the words
# (all three with --arms)
ARMS = ("evokd", "quote", "pool", "pool_random", "pool_mixed", "pool_cold", "pool_dense",
        "pool_total", "static")


def training_view(samples: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Samples in the student's training form (tokens and tags, or text and label)."""
    keys = ("tokens", "tags") if kind == "ner" else ("text", "label")
    return [{k: s[k] for k in keys} for s in samples]


_CHOSEN = ["--pool", "train", "--selection", "auto"]  # the pool arms' own selection
_LOOP_FLAGS = {"evokd": ["--quote-errors", "0"],  # EvoKD as it was: no quoted mistakes
               "pool": _CHOSEN,
               "pool_random": ["--pool", "train", "--selection", "random"],
               "pool_mixed": ["--pool", "train", "--source", "mixed"],
               "pool_cold": [*_CHOSEN, "--cold-start", "random"],
               "pool_dense": [*_CHOSEN, "--later-picks", "dense"],
               "pool_total": [*_CHOSEN, "--later-picks", "total"]}
WRITING = ("evokd", "quote")  # the arms whose token spend is static's budget


def arms_to_run(args: argparse.Namespace) -> list[str]:
    """The loop arms of one seed, in run order: ``--arms`` when given, else EvoKD and static
    with the arms ``--quote``, ``--pool`` and ``--mixed`` add; static runs last (its budget is
    the dearest writing arm's spend)."""
    if args.arms:
        wanted = set(args.arms)
    else:
        wanted = {"evokd", "static", *(["quote"] if args.quote else []),
                  *(["pool", "pool_random"] if args.pool else []),
                  *(["pool_mixed"] if args.mixed else [])}
    return [arm for arm in ARMS if arm in wanted]


def check_arms(args: argparse.Namespace) -> str | None:
    """Why ``--arms`` cannot run (None when it can): the quote arm needs ``--quote K``, static
    needs a writing arm to set its budget."""
    arms = arms_to_run(args)
    if "quote" in arms and not args.quote:
        return "the quote arm needs --quote K (the mistakes a hard request quotes)"
    if "static" in arms and not set(WRITING) & set(arms):
        return "the static arm needs evokd or quote in --arms (their token spend is its budget)"
    return None


def _arm_extra(args: argparse.Namespace, arm: str) -> list[str]:
    if arm == "quote":
        return ["--quote-errors", str(args.quote)]
    return list(_LOOP_FLAGS.get(arm, []))


def one_seed(args: argparse.Namespace, seed: int, kind: str) -> dict[str, Any]:
    """Every figure of one seed: each arm's score and costs, and the yardsticks (N: the
    samples the EvoKD arm kept, else the first arm's)."""
    runs: dict[str, dict[str, Any]] = {}
    for arm in arms_to_run(args):
        run_dir = args.out / arm / f"seed-{seed}"
        if arm == "static":
            budget = max(runs[a]["tokens"] for a in WRITING if a in runs)  # equal tokens
            rounds = str(args.rounds + EXTRA_STATIC_ROUNDS)
            runs[arm] = run_loop(args, seed, "static", run_dir,
                                 ["--budget-tokens", str(max(budget, 1)), "--rounds", rounds,
                                  "--patience", rounds])
        else:
            runs[arm] = run_loop(args, seed, "evokd", run_dir, _arm_extra(args, arm))
    base_arm = "evokd" if "evokd" in runs else next(iter(runs))
    base = runs[base_arm]
    pool = training_view(base["samples"], kind)
    n = len(pool)
    marks = args.out / "yardsticks" / f"seed-{seed}"
    row: dict[str, Any] = {
        "seed": seed, "code": code_version(), "n": n, "n_arm": base_arm,
        "seed_student": _score(base["seed_score"], kind),
        "random_n": _score(yardstick(args, seed, f"random-{n}", random_gold(args, seed, n),
                                     marks), kind),
    }
    if not args.no_pool_once:
        row["pool_once"] = _score(yardstick(args, seed, "pool-once" if base_arm == "evokd"
                                            else f"{base_arm}-once", pool, marks), kind)
    if "evokd" in runs:
        row["evokd_round"] = runs["evokd"]["best"]["round"]
    if "static" in runs:
        row["static_rounds"] = runs["static"]["rounds"]
    for arm, run in runs.items():
        row[arm] = _score(run["best"], kind)
        row[f"{arm}_tokens"], row[f"{arm}_kept"] = run["tokens"], run["kept"]
        row[f"{arm}_wall_s"] = run["wall_s"]
        row[f"{arm}_costs"] = costs(run["samples"], kind)
        row[f"{arm}_curve"] = learning_curve(run["metrics"], kind)
        row[f"{arm}_code"] = row["code"]
        if run["follows"]:
            row[f"{arm}_follow"] = statistics.fmean(r["similarity"] for r in run["follows"])
    if args.twice:
        row["random_2n"] = _score(yardstick(args, seed, f"random-{2 * n}",
                                            random_gold(args, seed, 2 * n), marks), kind)
    if args.equal_samples:  # each arm's first N kept samples, N the fewest any arm kept
        equal = min(run["kept"] for run in runs.values())
        row["equal_n"] = equal
        for arm, run in runs.items():
            first = training_view(run["samples"][:equal], kind)
            row[f"{arm}_equal_n"] = _score(yardstick(args, seed, f"{arm}-first-{equal}",
                                                     first, marks), kind)
    return row


# the columns that belong to the arm that set N (the yardsticks are paired with its samples)
YARDSTICK_KEYS = ("n", "n_arm", "seed_student", "random_n", "random_2n", "pool_once")


def merge_rows(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows already in ``path`` with ``rows`` merged in by seed (a new row's columns replace
    the old row's, the old row's other columns stay); written back to ``path``. A row that only
    adds arms keeps the old row's yardsticks (N and what was trained at N), which stay paired
    with the arm that set N."""
    old = {r["seed"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for row in rows:
        before = old.get(row["seed"], {})
        base = before.get("n_arm")
        if base and base != row.get("n_arm") and base not in row:  # new arms only
            row = {**row, **{k: before[k] for k in YARDSTICK_KEYS if k in before}}
        old[row["seed"]] = {**before, **row}
    merged = sorted(old.values(), key=lambda r: r["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def _pm(values: list[float]) -> str:
    return mean_pm(values, 1)


def _arms(rows: list[dict[str, Any]]) -> list[str]:
    return [arm for arm in ARMS if all(arm in r for r in rows)]


def _mean_or_dash(values: list[float], scale: float = 1.0, fmt: str = ".0f") -> str:
    return f"{statistics.fmean(values) / scale:{fmt}}" if values else "–"


def _cost_line(rows: list[dict[str, Any]], arm: str, name: str) -> str:
    """One arm's costs over the seeds: kept samples, tokens, words, mentions, label mix, and
    how close the following teacher's answers came to their quotes."""
    mix: Counter[str] = Counter()
    for r in rows:
        mix.update(r.get(f"{arm}_costs", {}).get("mix", {}))
    total = sum(mix.values()) or 1
    measured = [r for r in rows if f"{arm}_tokens" in r]  # rows copied from a table lack costs
    kept = [r.get(f"{arm}_kept", r["n"] if arm == "evokd" else 0) for r in measured]
    words = [r[f"{arm}_costs"]["words"] for r in rows if f"{arm}_costs" in r]
    mentions = [r[f"{arm}_costs"]["mentions"] for r in rows
                if r.get(f"{arm}_costs", {}).get("mentions") is not None]
    follow = [r[f"{arm}_follow"] for r in rows if f"{arm}_follow" in r]
    tokens = _mean_or_dash([r[f"{arm}_tokens"] for r in measured], 1000, ".1f")
    if len(measured) < len(rows):
        name += f" ({len(measured)} of {len(rows)} seeds)"
    cells = [name, _mean_or_dash(kept), tokens + ("k" if measured else ""),
             _mean_or_dash(words), _mean_or_dash(mentions),
             ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in mix.most_common()) or "–",
             _mean_or_dash(follow, fmt=".3f")]
    return "| " + " | ".join(cells) + " |"


def table(rows: list[dict[str, Any]], twice: bool) -> str:
    """Markdown: one line per seed (scores), then mean ± std; below it the paired differences
    with 95 % intervals and what each arm's samples cost."""
    rows = [dict(r) for r in rows]  # the areas under the curves are added to copies
    arms = _arms(rows)
    once = ["pool_once"] if all("pool_once" in r for r in rows) else []  # --no-pool-once
    keys = ["seed_student", *arms, "random_n", *(["random_2n"] if twice else []), *once]
    names = {"seed_student": "seed student", "evokd": "EvoKD", "quote": "EvoKD + quotes",
             "pool": "pool (chosen)", "pool_random": "pool (random picks)",
             "pool_mixed": "pool + written (mixed)",
             "pool_cold": "pool (random round 1)", "pool_dense": "pool (dense later picks)",
             "pool_total": "pool (total later picks)",
             "static": "static (equal tokens)", "random_n": "random-N",
             "random_2n": "random-2N", "pool_once": "pool once"}
    lines = ["| seed | " + " | ".join(names[k] for k in keys) + " | N |",
             "|---" * (len(keys) + 2) + "|"]
    for r in rows:
        lines.append(f"| {r['seed']} | " + " | ".join(f"{100 * r[k]:.1f}" for k in keys)
                     + f" | {r['n']} |")
    if len(rows) > 1:
        lines.append("| mean ± std | " + " | ".join(_pm([r[k] for r in rows]) for k in keys)
                     + f" | {statistics.fmean(r['n'] for r in rows):.0f} |")
    pairs = [(a, b) for a, b in (("quote", "static"), ("evokd", "static"), ("quote", "evokd"),
                                 ("pool", "pool_random"), ("pool_cold", "pool"),
                                 ("pool_cold", "pool_random"), ("pool_dense", "pool"),
                                 ("pool_dense", "pool_random"), ("pool_total", "pool"),
                                 ("pool_total", "pool_random"), ("pool", "evokd"),
                                 ("pool_mixed", "pool"), ("pool_mixed", "evokd"),
                                 ("pool_random", "evokd"), ("evokd", "random_n"),
                                 ("quote", "random_n")) if a in keys and b in keys]
    if any("equal_n" in r for r in rows) and all("equal_n" in r for r in rows):
        pairs += [(f"{a}_equal_n", f"{b}_equal_n") for a, b in (("quote", "static"),
                  ("evokd", "static"), ("quote", "evokd"), ("pool", "pool_random"),
                  ("pool", "evokd")) if a in arms and b in arms]
    areas = {arm: [curve_area(r[f"{arm}_curve"], r["seed_student"]) for r in rows
                   if r.get(f"{arm}_curve")] for arm in arms}
    areas = {arm: a for arm, a in areas.items() if len(a) == len(rows)}
    for arm, values in areas.items():
        for r, value in zip(rows, values, strict=True):
            r[f"{arm}_area"] = value
    pairs += [(f"{a}_area", f"{b}_area") for a, b in pairs if a in areas and b in areas]
    lines += ["", "| paired difference (points) | 95 % t-interval | 95 % bootstrap |",
              "|---|---|---|"]
    suffixes = {"_equal_n": " at equal samples (each arm's first N)",
                "_area": ", area under the learning curve"}
    for a, b in pairs:
        suffix = next((s for s in suffixes if a.endswith(s)), "")
        label = (f"{names.get(a.removesuffix(suffix), a)} − "
                 f"{names.get(b.removesuffix(suffix), b)}{suffixes.get(suffix, '')}")
        differences = [r[a] - r[b] for r in rows]
        lines.append(f"| {label} | {paired_text(differences)} | {bootstrap_text(differences)} |")
    lines += ["", "| arm | kept | tokens | words | mentions | label mix | similarity to quote |",
              "|---|---|---|---|---|---|---|"]
    for arm in arms:
        lines.append(_cost_line(rows, arm, names[arm]))
    return "\n".join(lines + _curve_lines(rows, arms, names))


def curve_area(curve: list[list[float]], start: float) -> float:
    """Area under a learning curve (trapezoids from the seed student at 0 samples to the last
    round), divided by its width: the mean score over the samples taken; the score itself when
    no round took a sample."""
    points = [(0.0, start), *((float(n), score) for n, score in curve)]
    width = points[-1][0]
    if width <= 0:
        return points[-1][1]
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points)
               ) / width


def _curve_lines(rows: list[dict[str, Any]], arms: list[str], names: dict[str, str]
                 ) -> list[str]:
    """Mean accepted samples and mean score of each round's student, per arm (rounds that
    every seed reached)."""
    curves = {arm: [r[f"{arm}_curve"] for r in rows if f"{arm}_curve" in r] for arm in arms}
    curves = {arm: c for arm, c in curves.items() if c and len(c) == len(rows)}
    if not curves:
        return []
    depth = max(min(len(c) for c in per_seed) for per_seed in curves.values())
    lines = ["", "| learning curve: samples so far → score | "
             + " | ".join(f"round {i + 1}" for i in range(depth)) + " |",
             "|---" * (depth + 1) + "|"]
    for arm, per_seed in curves.items():
        reached = min(len(c) for c in per_seed)
        cells = [f"{statistics.fmean(c[i][0] for c in per_seed):.0f} → "
                 f"{100 * statistics.fmean(c[i][1] for c in per_seed):.1f}"
                 for i in range(reached)]
        lines.append(f"| {names[arm]} | " + " | ".join(cells + ["–"] * (depth - reached)) + " |")
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The bench's flags (arms are checked by :func:`parse_args`)."""
    parser = seeds_parser(__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--train-steps", type=int, default=300,
                        help="yardstick training steps (the seed student's recipe)")
    parser.add_argument("--twice", action="store_true", help="also the random-2N yardstick")
    parser.add_argument("--quote", type=int, default=0, metavar="K",
                        help="also EvoKD with --quote-errors K (the 'quote' arm)")
    parser.add_argument("--follow", action="store_true",
                        help="the gold teacher follows what a request shows (quoted mistakes, "
                        "else examples) and logs each answer's similarity")
    parser.add_argument("--equal-samples", action="store_true",
                        help="also train each arm's first N kept samples once (N: the fewest "
                        "any arm kept)")
    parser.add_argument("--pool", action="store_true",
                        help="also the loop picking train texts (labels hidden) for the "
                        "teacher to label: its selection ('pool') and random picks "
                        "('pool_random')")
    parser.add_argument("--mixed", action="store_true",
                        help="also the loop with --source mixed: the hard quota picked from "
                        "the train texts, the easy quota written ('pool_mixed')")
    parser.add_argument("--arms", type=lambda v: v.split(","), default=None,
                        metavar="A,B,...", help=f"run only these loop arms (of {', '.join(ARMS)}"
                        "); the yardsticks take N from evokd, else from the first of them in "
                        "that order")
    parser.add_argument("--no-pool-once", action="store_true",
                        help="skip the pool-once yardstick (the base arm's kept samples "
                        "trained once; about 2.5 min a seed at 200 samples): the table then "
                        "leaves its column out")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("passthrough", nargs="*", help="main.py flags after --")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags, with ``--arms`` checked (a bad combination exits 2 with one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.arms or []) - set(ARMS))
    if unknown:
        parser.error(f"unknown arm {', '.join(unknown)}; the arms are {', '.join(ARMS)}")
    problem = check_arms(args)
    if problem:
        parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from transformers.utils import logging as hf_logging

    from evokd.tasks import resolve_data_dir, resolve_task

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    kind = resolve_task(args.task, resolve_data_dir(args.data_dir)).kind
    rows = []
    for seed in args.seeds:  # written after each seed, so a stopped bench loses no row
        row = one_seed(args, seed, kind)
        print(table([row], args.twice), flush=True)
        rows = merge_rows(args.out / "efficiency.json", [row])
    print(f"\n{args.task}, 1-shot, {args.rounds} rounds x {args.samples} samples, gold teacher; "
          f"test {'accuracy' if kind == 'cls' else 'F1'} in %:")
    print(table(rows, args.twice))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
