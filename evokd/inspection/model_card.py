"""The delivered student's model card, ``student/README.md``, in the Hugging Face format: YAML
metadata (language, pipeline tag, base model, labels, metrics) and a body that says what the
student does, how it was made and how to load it. Written from the run directory alone."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from evokd.core.cli import percent
from evokd.core.rundir import RunDir, best_row, read_text
from evokd.inspection.next_steps import PIPELINES, load_snippet
from evokd.student.backbone import hub_id

CARD = "README.md"
JsonDict = dict[str, Any]
LATER_PICKS = {"dense": ", weighed by how typical they are",
               "total": ", summed over their words"}  # what --later-picks adds to "least sure"


def _sources(config: dict[str, Any]) -> str:
    """Where the run's texts came from, in words."""
    written = ("an LLM generator wrote easy texts (what it knows) and hard texts (aimed at its "
               "mistakes)")
    source = config.get("source") or "auto"
    if not config.get("pool") or source == "generate":
        return written
    later = "those the student was least sure of" + LATER_PICKS.get(
        str(config.get("later_picks")), "")
    how = ("at random" if config.get("selection") == "random"
           else f"{config.get('cold_start', 'typical')} ones first, then {later}")
    picked = f"texts were picked from a pool of real unlabelled texts ({how})"
    return (picked.replace("texts were picked", "hard texts were picked")
            + " and an LLM generator wrote easy texts") if source == "mixed" else picked


def metadata(config: JsonDict, best: JsonDict) -> JsonDict:
    """The card's YAML header."""
    spec, kind = config.get("task_spec") or {}, (config.get("task_spec") or {}).get("kind", "cls")
    student = str(config.get("student") or "")
    task = str(config.get("task") or spec.get("name") or "")
    split = "test" if best.get("test_f1") is not None else "dev"
    scores = [("f1", f"{split} {'macro-F1' if kind == 'cls' else 'F1 (seqeval)'}",
               best.get(f"{split}_f1"))]
    if kind == "cls":
        scores.append(("accuracy", f"{split} accuracy", best.get(f"{split}_accuracy")))
    meta: JsonDict = {
        "language": ["en"],
        "library_name": "transformers",
        "pipeline_tag": PIPELINES[kind],
        "tags": ["evokd", "knowledge-distillation", "synthetic-data"],
        "labels": list(spec.get("labels") or []),
        "metrics": [name for name, _, value in scores if value is not None],
    }
    base = hub_id(student) if student else None
    if base:  # a local path says nothing to others
        meta["base_model"] = base
    meta["model-index"] = [{"name": f"evokd-{task}", "results": [{
        "task": {"type": PIPELINES[kind]},
        "dataset": {"name": task, "type": task, "split": split},
        "metrics": [{"type": name, "name": label, "value": round(100 * value, 2)}
                    for name, label, value in scores if isinstance(value, (int, float))],
    }]}]
    return meta


def _per_label(best: JsonDict) -> list[str]:
    dev, test = best.get("dev_per_label_f1") or {}, best.get("per_label_f1") or {}
    test_split = best.get("per_label_split") != "dev"
    labels = list(dict.fromkeys([*dev, *test]))
    rows = ["| label | dev F1 | test F1 |", "|---|---:|---:|"]
    rows += [f"| {label} | {percent(dev.get(label))} | "
             f"{percent(test.get(label)) if test_split else '-'} |" for label in labels]
    return rows


def card_text(run_dir: Path, *, teacher: str, seed_examples: int) -> str:
    """The model card of the run in ``run_dir`` (its config.json, metrics.jsonl and
    synthetic.jsonl); ``teacher`` names the LLM in words."""
    folder = RunDir(run_dir)
    config = json.loads(read_text(folder.config) or "{}")
    metrics, _ = folder.read_metrics()
    samples, _ = folder.read_synthetic()
    spec = config.get("task_spec") or {}
    kind = spec.get("kind", "cls")
    best = best_row(metrics) if metrics else {}
    rounds = max((int(r.get("round") or 0) for r in metrics), default=0)
    tokens = max((int(r.get("tokens") or 0) for r in metrics), default=0)
    used = [s for s in samples if int(s.get("round") or 0) <= int(best.get("round") or 0)]
    stances = Counter(str(s.get("stance") or "?") for s in used)
    header = yaml.safe_dump(metadata(config, best), sort_keys=False, allow_unicode=True)
    descriptions = spec.get("label_descriptions") or {}
    lines = [
        "---", header.rstrip(), "---", "",
        f"# {config.get('task', '')} student, distilled with evokd", "",
        f"A {PIPELINES[kind]} model for: {spec.get('description', '')}", "",
        "Labels:" if kind == "cls" else "Entity types:",
        *(f"- `{label}`: {descriptions.get(label, '')}" for label in spec.get("labels") or []),
        "", "## How it was made", "",
        f"- Base model: {config.get('student', '')}",
        f"- Seed set: {seed_examples} labelled examples ({config.get('k_shot')} per label)",
        f"- Teacher: {teacher}; {tokens:,} teacher tokens over {rounds} rounds",
        f"- Delivered student: round {best.get('round', 0)} (the best dev F1), trained on the "
        + (f"seed set and the {len(used)} synthetic samples of rounds 1-{best['round']} ("
           + ", ".join(f"{n} {s}" for s, n in sorted(stances.items())) + ")"
           if used else "seed set alone")
        + f"; the run accepted {len(samples)} synthetic samples in all (`../synthetic.jsonl`)",
        "",
        "Each round the student was scored, an LLM analyst described its mistakes, "
        + _sources(config) + ", another LLM call labelled each text, and rule checks dropped "
        "unusable samples "
        "(unknown labels, duplicates, copies of the seed examples, texts of the dev or test "
        "split) before the student was trained again. The dev split chose the delivered "
        "student; the test split was only scored.", "",
        "## Scores (percent)", "",
        "| round | dev F1 | test F1 | samples kept |", "|---:|---:|---:|---:|",
        *(f"| {r.get('round')} | {percent(r.get('dev_f1'))} | {percent(r.get('test_f1'))} | "
          f"{r.get('kept', 0)} |" for r in metrics),
        "", f"Per label, round {best.get('round', 0)}:", "", *_per_label(best),
        "", "## How to load it", "", "```python",
        *load_snippet(str(folder.student), kind), "```", "",
        f"or, with evokd: `python main.py predict {run_dir} \"some text\"`.", "",
    ]
    return "\n".join(lines)


def write_model_card(run_dir: Path, *, teacher: str, seed_examples: int) -> Path | None:
    """Write ``student/README.md`` (None when the run has no student yet). What a finished run
    calls: a failure is one line on stderr, never the run's end."""
    student = RunDir(run_dir).student
    if not student.is_dir():
        return None
    path = student / CARD
    try:
        path.write_text(card_text(run_dir, teacher=teacher, seed_examples=seed_examples),
                        encoding="utf-8")
    except Exception as exc:  # the student is delivered all the same
        print(f"evokd: {path} not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return path
