"""Where the samples go and how the student learns from them: label shares of the hard calls,
the training schedules, and the gold teacher that measures both (bench/gold_teacher.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args, get_type_hints

import pytest

from evokd.graph.config import RunConfig
from evokd.graph.nodes import training_set
from evokd.graph.strategy import STRATEGIES, plan, stance_quotas
from evokd.graph.targeting import allocate, hard_label_weights
from evokd.samples.align import entities_from_tags
from evokd.samples.rules import text_key
from evokd.tasks import load_task_data, resolve_task
from evokd.tasks.sampler import seed_examples
from fakes.data import read_jsonl
from tests.loop_runs import GoldLoop

LABELS = ["PER", "ORG", "LOC", "MISC"]


def test_hard_calls_follow_the_dev_f1_shortfall_and_the_analysis() -> None:
    f1 = {"PER": 0.8, "ORG": 0.2, "LOC": 0.9, "MISC": 0.0}
    weights = hard_label_weights(LABELS, {"weak_labels": ["ORG"]}, f1)
    assert weights == pytest.approx({"PER": 0.2, "ORG": 1.3, "LOC": 0.1, "MISC": 1.0})
    shares = Counter(allocate(weights, 13))
    assert shares["ORG"] > shares["MISC"] > shares["PER"] >= shares["LOC"]
    assert sum(shares.values()) == 13
    # no per-label dev F1 yet: the analyst's weak labels share the calls
    assert set(allocate(hard_label_weights(LABELS, {"weak_labels": ["LOC"]}, {}), 3)) == {"LOC"}
    # a perfect student and no analysis: every label in turn
    assert allocate(hard_label_weights(LABELS, {}, dict.fromkeys(LABELS, 1.0)), 4) == LABELS


def test_each_strategy_and_ablation_asks_for_its_stances() -> None:
    def config(**settings: Any) -> RunConfig:
        return RunConfig(task="conll03", samples_per_round=5, **settings)

    assert stance_quotas(config()) == {"hard": 3, "easy": 2}
    assert stance_quotas(config(easy=False)) == {"hard": 5}
    assert stance_quotas(config(strategy="static")) == {"plain": 5}
    evokd, static = plan(config()), plan(config(strategy="static"))
    assert evokd.feedback and evokd.analysis and evokd.history and evokd.rounds
    assert not (static.feedback or static.analysis or static.history) and static.rounds
    assert not plan(config(history=False)).history and not plan(config(strategy="none")).rounds
    assert get_args(get_type_hints(RunConfig)["strategy"]) == tuple(STRATEGIES)


def test_retrain_uses_everything_accepted_and_incremental_a_replay() -> None:
    seed = [{"tokens": ["a"], "tags": ["O"]}]
    pool = [{"tokens": [f"p{i}"], "tags": ["O"]} for i in range(100)]
    batch = [{"tokens": ["new"], "tags": ["O"]}]
    state = {"pool": pool, "batch": batch, "round": 3}

    def ctx(schedule: str) -> SimpleNamespace:
        config = SimpleNamespace(schedule=schedule, seed=1, replay=64)
        return SimpleNamespace(config=config, seed_set=seed)

    assert training_set(state, ctx("retrain")) == seed + pool + batch
    incremental = training_set(state, ctx("incremental"))
    assert incremental[:2] == seed + batch and len(incremental) == 2 + 64
    assert all(x in pool for x in incremental[2:])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_gold_teacher_serves_train_texts_with_their_gold_labels(
    method: str, tiny_data: Path, gold_loop: GoldLoop
) -> None:
    server, run_dir = gold_loop("--structured-method", method)

    spec = resolve_task("conll03", tiny_data)
    data = load_task_data(spec)
    train = {text_key(spec.example_text(ex)): ex for ex in data.train}
    seeds = {text_key(spec.example_text(ex)) for ex in seed_examples(spec, data, 1, 1)}
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    assert len(synthetic) >= 10 and {s["round"] for s in synthetic} == {1, 2}
    for sample in synthetic:
        key = text_key(" ".join(sample["tokens"]))
        assert key in train and key not in seeds  # a train text, never a seed example
        expected = entities_from_tags(train[key]["tokens"], train[key]["tags"])
        got = entities_from_tags(sample["tokens"], sample["tags"])
        assert [e["type"] for e in got] == [e["type"] for e in expected]  # the gold labels
    assert len({text_key(" ".join(s["tokens"])) for s in synthetic}) == len(synthetic)

    # each hard call names one entity type
    hard = [r["messages"][-1]["content"] for r in server.requests
            if "HARD sentences" in r["messages"][-1]["content"]]
    named = [re.search(r"type\(s\) (.*?), in the tricky", text).group(1) for text in hard]
    assert named and all(name in LABELS for name in named)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["schedule"] == "retrain"
