"""langgraph.json points LangGraph's own tools at the compiled loop graph."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from langgraph.graph.state import CompiledStateGraph

from evokd.agents.registry import optional_roles

ROOT = Path(__file__).resolve().parents[1]
# the loop's own nodes (graph/build.py); every registered optional role adds its own
CORE_NODES = {"train_seed", "evaluate", "analyst", "select", "generator", "gather", "labeler",
              "critic", "feedback", "train", "assess", "finish"}


def test_langgraph_json_loads_the_compiled_graph() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    path, _, attr = config["graphs"]["evokd"].partition(":")
    spec = importlib.util.spec_from_file_location("evokd_studio", ROOT / path)  # as the CLI does
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = getattr(module, attr)
    assert isinstance(graph, CompiledStateGraph)
    roles = {role.name for role in optional_roles()}
    assert "reviewer" in roles
    assert set(graph.get_graph().nodes) == CORE_NODES | roles | {"__start__", "__end__"}
