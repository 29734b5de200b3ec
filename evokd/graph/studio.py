"""The compiled loop graph for LangGraph's own tools (``langgraph.json`` at the repository root
points here), e.g. ``langgraph dev`` / LangGraph Studio to look at the nodes and edges.

No checkpointer is attached (the LangGraph server brings its own). Running the graph needs a
``graph.context.RunContext`` (task data, teacher client, run directory) as its runtime context;
``main.py`` builds one, so use ``python main.py --task ...`` for real runs.
"""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph

from evokd.graph.build import build_graph
from evokd.graph.context import RunContext
from evokd.graph.state import LoopState

graph: CompiledStateGraph[LoopState, RunContext, LoopState, LoopState] = build_graph().compile(
    name="evokd")
