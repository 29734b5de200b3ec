"""A hand-written run directory (two rounds, reviewer on, a report with a plot) for the
``trace``, ``view`` and timeline tests: no training, no LLM, written in milliseconds. Its trace
events are made by ``core.trace``, as the loop makes them.

LLM-written fields carry HTML on purpose (``INJECTED``) so tests can check it is escaped.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from evokd.core import trace
from evokd.core.rundir import RunDir
from evokd.graph.build import build_graph

INJECTED = '<b id="injected">bold</b><script>document.title="pwned"</script>'
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
SAMPLE = {"tokens": ["Anna", "Berg", "of", "Nordbank", "met", "people", "in", "Oslo", "."],
          "tags": ["B-PER", "I-PER", "O", "B-ORG", "O", "O", "O", "B-LOC", "O"],
          "text": "Anna Berg of Nordbank met people in Oslo .",
          "entities": [{"text": "Anna Berg", "type": "PER"}, {"text": "Nordbank", "type": "ORG"},
                       {"text": "Oslo", "type": "LOC"}]}


def _call(role: str, round_no: int, cached: bool = False, ok: bool = True) -> trace.LlmCall:
    return trace.llm_call(role, round_no, 1, prompt_tokens=100, completion_tokens=20,
                          latency_s=0.5, cached=cached, error=None if ok else "not JSON")


def _metrics(round_no: int, dev: float, kept: int, reasons: dict[str, int]) -> dict[str, Any]:
    return {"round": round_no, "dev_f1": dev, "test_f1": dev - 0.01,
            "per_label_f1": {"PER": 0.5, "ORG": 0.25, "LOC": 0.75, "MISC": 0.0},
            "tokens": 240 * round_no, "kept": kept, "dropped": sum(reasons.values()),
            "best": True, "drop_reasons": reasons}


def _events() -> list[dict[str, Any]]:
    wrong = [{"text": "Tomas Novak of Vexa Motors .", "gold": [{"text": "Tomas Novak",
              "type": "PER"}], "predicted": [{"text": "Vexa", "type": "PER"}]}]
    analysis = {"summary": f"Misses names. {INJECTED}", "weak_labels": ["PER"],
                "patterns": ["names at sentence start"], "fallback": False, "error": None,
                "raw": None}
    memo = {"round": 2, "memo": "Names stay weak.", "lessons": ["start with names"],
            "text": "Reviewer's memo on rounds 1 to 1: Names stay weak.", "fallback": False,
            "error": None, "raw": None}
    node = trace.node_update
    events: list[trace.TraceEvent] = [
        trace.run_start(False, "conll03"),
        node("train_seed", {"round": 0, "metrics": [{}]}),
        node("evaluate", {"feedback": {"correct": [], "wrong": wrong}}),
    ]
    for round_no in (1, 2):
        if round_no == 2:
            events += [_call("reviewer", 2), node("reviewer", {"notes": {"reviewer": memo}})]
        events += [
            _call("analyst", round_no),
            node("analyst", {"round": round_no, "analysis": analysis}),
            _call("generator", round_no), _call("generator", round_no, cached=True),
            trace.generated(round_no, 4),
            _call("labeler", round_no), _call("labeler", round_no, ok=False),
            trace.drop(round_no, {"reason": "malformed_reply", "detail": "not JSON",
                                  "role": "labeler", "sample": {"text": f"Drop me {INJECTED}"},
                                  "raw": f"raw reply {INJECTED}"}),
            _call("critic", round_no),
            trace.drop(round_no, {"reason": "duplicate", "detail": "seen before",
                                  "role": "critic",
                                  "sample": {"text": "Duplicate sentence about Oslo ."},
                                  "raw": None}),
            node("critic", {"batch": [{}, {}], "drops": [{}]}),
            trace.feedback(round_no, 1, 1),
            node("feedback", {"feedback": {"correct": [], "wrong": wrong}}),
            node("train", {"candidate_path": "x"}),
            node("assess", {"metrics": [{}] * (round_no + 1)}),
        ]
    events += [trace.run_end(2, "2 rounds done"),
               node("finish", {"stop_reason": "2 rounds done"}),
               trace.teacher_engine({"engine": "transformers", "served": 12, "batches": 3,
                                     "batched_requests": 12, "prefill_prompt_tokens": 6000,
                                     "prefill_computed_tokens": 1500, "prefill_seconds": 8.0})]
    return [{"ts": 1_700_000_000 + i, **e} for i, e in enumerate(events)]


def write_fake_run(path: Path, report: bool = True) -> Path:
    """Write the run directory at ``path`` and return it."""
    path.mkdir(parents=True, exist_ok=True)
    run_dir = RunDir(path)
    run_dir.write_config({"task": "conll03", "k_shot": 1, "rounds": 2, "samples_per_round": 4,
                          "seed": 1, "teacher": "openai", "model": "fake-model",
                          "roles": ["reviewer"], "student": "tiny-bert"})
    run_dir.write_text(run_dir.graph, build_graph().compile().get_graph().draw_mermaid())
    lines = [json.dumps(e) for e in _events()]
    run_dir.trace.write_text("\n".join(lines) + "\n{not json\n", encoding="utf-8")
    reasons = {"malformed_reply": 1, "duplicate": 1}
    metrics = [_metrics(0, 0.1, 0, {}), _metrics(1, 0.2, 2, reasons), _metrics(2, 0.3, 2, reasons)]
    run_dir.write_jsonl(run_dir.metrics, metrics)
    samples = []
    for round_no in (1, 2):
        samples.append({**SAMPLE, "stance": "easy", "round": round_no, "call": 0,
                        "intended_label": None})
        hard = {**SAMPLE, "text": f"Hard {round_no} {INJECTED}", "stance": "hard",
                "round": round_no, "call": 1, "intended_label": None}
        hard["tokens"] = ["Hard", str(round_no), INJECTED]
        hard["tags"] = ["O", "O", "B-MISC"]
        samples.append(hard)
    run_dir.write_jsonl(run_dir.synthetic, samples)
    if report:
        run_dir.report.write_text("<html><body><img src='plots/f1.png'></body></html>")
        (path / "plots").mkdir(exist_ok=True)
        (path / "plots" / "f1.png").write_bytes(PNG_1X1)
    return path
