"""langgraph.json points LangGraph's own tools at the compiled loop graph."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from langgraph.graph.state import CompiledStateGraph

ROOT = Path(__file__).resolve().parents[1]
NODES = {"train_seed", "evaluate", "reviewer", "analyst", "generator", "gather", "labeler",
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
    assert set(graph.get_graph().nodes) == NODES | {"__start__", "__end__"}
