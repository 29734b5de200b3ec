"""A new agent role is its module, its prompt and one registration: the toy scout role of
tests/toy_role, registered from this test module, is found in the compiled graph, graph.mmd,
the flags, config.json, the trace, the timeline and the viewer, and runs only when switched on.
(The checklist of docs/EXTENDING.md follows these assertions.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evokd import main
from evokd.agents import registry
from evokd.graph.build import build_graph
from evokd.graph.config import flags_markdown, role_switches
from evokd.inspection.timeline import render_timeline
from evokd.inspection.viewer import render_page
from fakes.data import read_jsonl
from fakes.scripted_teacher import reply
from tests.loop_runs import run_main
from tests.toy_role import ROLE, register_scout
from tests.toy_role.tally import ROLE as TALLY
from tests.toy_role.tally import register_tally

GAP = "GAP: no sentences with two organisations"


def scout_or_scripted(request: dict[str, Any]) -> str:
    """The scripted teacher, plus the scout's answer."""
    if request["messages"][0]["content"].startswith("You are the scout"):
        return json.dumps({"gap": GAP})
    return reply(request)


@pytest.fixture
def scout_role() -> Iterator[registry.AgentRole]:
    role = register_scout()
    yield role
    registry.unregister(ROLE)


def test_a_registered_role_is_in_the_graph_flags_and_docs(scout_role) -> None:
    graph = build_graph().compile().get_graph()
    assert ROLE in graph.nodes
    edges = {(e.source, e.target) for e in graph.edges}
    assert ("critic", ROLE) in edges and (ROLE, "feedback") in edges
    assert "--scout" in main.build_parser().format_help()
    assert "`--scout`" in flags_markdown()


@pytest.mark.slow
def test_the_role_runs_at_its_stage_and_shows_everywhere(
    scout_role, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai, env_key
) -> None:
    server = fake_openai(scout_or_scripted)
    run_dir = tmp_path / "run"
    assert run_main(server, run_dir, tiny_backbone, tiny_data, "--scout", rounds=2) == 0
    assert json.loads((run_dir / "config.json").read_text())["roles"] == [ROLE]
    assert f"{ROLE}" in (run_dir / "graph.mmd").read_text()

    events = read_jsonl(run_dir / "trace.jsonl")
    calls = [e["round"] for e in events if e["event"] == "llm_call" and e["role"] == ROLE]
    assert calls == [1, 2], "one scout call per round"
    order = [e["node"] for e in events if e["event"] == "node"]
    first = order.index(ROLE)
    assert order[first - 1] == "critic" and order[first + 1] == "feedback"
    notes = [e["notes"][ROLE] for e in events if e["event"] == "node" and e["node"] == ROLE]
    assert [n["round"] for n in notes] == [1, 2] and GAP in notes[0]["text"]

    timeline = render_timeline(run_dir, color=False)
    assert f"{ROLE} on" in timeline and f"{ROLE} scout: {GAP}" in timeline
    page = render_page(run_dir)
    assert f'id="node-{ROLE}"' in page and f"<td>{ROLE}</td>" in page and GAP in page


@pytest.mark.slow
def test_the_role_is_skipped_when_off(
    scout_role, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai, env_key
) -> None:
    server = fake_openai(scout_or_scripted)
    run_dir = tmp_path / "run"
    assert run_main(server, run_dir, tiny_backbone, tiny_data, rounds=1) == 0
    assert json.loads((run_dir / "config.json").read_text())["roles"] == []
    assert not [r for r in server.requests
                if r["messages"][0]["content"].startswith("You are the scout")]
    assert ROLE in (run_dir / "graph.mmd").read_text(), "in the graph all the same"


@pytest.fixture
def tally_role() -> Iterator[registry.AgentRole]:
    role = register_tally()
    yield role
    registry.unregister(TALLY)


def test_a_role_without_an_llm_call_runs_beside_an_llm_role(
    scout_role, tally_role, tmp_path: Path, tiny_backbone: Path, tiny_data: Path, fake_openai,
    env_key
) -> None:
    server = fake_openai(scout_or_scripted)
    run_dir = tmp_path / "run"
    assert run_main(server, run_dir, tiny_backbone, tiny_data, "--scout", "--tally",
                    rounds=1) == 0
    assert json.loads((run_dir / "config.json").read_text())["roles"] == [ROLE, TALLY]
    events = read_jsonl(run_dir / "trace.jsonl")
    assert not [e for e in events if e["event"] == "llm_call" and e["role"] == TALLY]
    order = [e["node"] for e in events if e["event"] == "node"]
    assert order.index("critic") < order.index(ROLE) < order.index(TALLY) < order.index(
        "feedback"), "roles of one stage run in name order"
    [note] = [e["notes"][TALLY] for e in events if e["event"] == "node" and e["node"] == TALLY]
    batch = [s for s in read_jsonl(run_dir / "synthetic.jsonl") if s["round"] == 1]
    tagged = sum(tag.startswith("B-") for s in batch for tag in s["tags"])
    assert batch and sum(note["counts"].values()) == tagged > 0
    assert f"{TALLY} {note['text']}" in render_timeline(run_dir, color=False)


def test_a_role_with_a_setting_name_or_no_stage_is_refused() -> None:
    async def run() -> None: ...

    async def node(state: Any, runtime: Any) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="stage"):
        registry.register(registry.AgentRole("lost", run, (), (), node=node, stage="nowhere",
                                             switch="x"))
    with pytest.raises(ValueError, match="switch"):
        registry.register(registry.AgentRole("mute", run, (), (), node=node,
                                             stage="round_start"))
    registry.register(registry.AgentRole("history", run, (), (), node=node,
                                         stage="round_start", switch="x"))
    try:
        with pytest.raises(ValueError, match="name of a setting"):
            role_switches()
    finally:
        registry.unregister("history")
