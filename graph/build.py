"""The EvoKD loop as a LangGraph state machine (the paper's Figure 2).

    train_seed ─► evaluate ─► analyst ─► generator ×N ─► gather ─► labeler ×M ─► critic
                                 ▲                                                 │
                     (reviewer) ─┤                                                 ▼
                 finish ◄── route ◄── assess ◄── train ◄── feedback ◄─────────────┘

A round starts at the analyst and ends at assess; ``route_next_round`` decides whether another
round runs (rounds, token budget, dev-F1 patience). Generator and labeler calls fan out with
``Send`` and run concurrently, bounded by the teacher client's semaphore. The optional reviewer
(``--reviewer``) is always in the graph, so graph.mmd and checkpoints do not depend on the flag;
the router only sends rounds 2+ through it when the flag is on.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from graph import nodes
from graph.context import RunContext
from graph.state import LoopState


def route_after_seed(state: LoopState, runtime: Any) -> Literal["evaluate", "finish"]:
    """Rounds 0 means the seed student is the result."""
    return "evaluate" if runtime.context.config.rounds > 0 else "finish"


def fan_out_generators(state: LoopState, runtime: Any) -> list[Send] | Literal["finish"]:
    """One ``Send`` per generator call, or stop if the analyst hit the token budget."""
    if state.get("stop_reason"):
        return "finish"
    return [Send("generator", job) for job in nodes.generator_jobs(state, runtime.context)]


def fan_out_labelers(state: LoopState) -> list[Send] | Literal["critic"]:
    """One ``Send`` per generated text (labelling is a separate call per text)."""
    jobs = [Send("labeler", {"sample": s, "round": state["round"]})
            for s in state.get("texts", [])]
    return jobs or "critic"


def route_next_round(
    state: LoopState, runtime: Any
) -> Literal["reviewer", "analyst", "finish"]:
    """Another round (through the reviewer with ``--reviewer`` when there is a review history
    to condense), or stop (rounds done, token budget spent, no dev gain)."""
    if nodes.stop_reason(state, runtime.context):
        return "finish"
    return "reviewer" if runtime.context.config.reviewer and state.get("history") else "analyst"


def route_after_review(state: LoopState) -> Literal["analyst", "finish"]:
    """The reviewer may have hit the token budget."""
    return "finish" if state.get("stop_reason") else "analyst"


def build_graph() -> StateGraph:
    """The uncompiled loop; compile it with a checkpointer to run it."""
    graph = StateGraph(LoopState, context_schema=RunContext)
    graph.add_node("train_seed", nodes.train_seed)
    graph.add_node("evaluate", nodes.evaluate)
    graph.add_node("reviewer", nodes.reviewer)
    graph.add_node("analyst", nodes.analyst)
    graph.add_node("generator", nodes.generator)
    graph.add_node("gather", nodes.gather)
    graph.add_node("labeler", nodes.labeler)
    graph.add_node("critic", nodes.critic)
    graph.add_node("feedback", nodes.feedback)
    graph.add_node("train", nodes.train)
    graph.add_node("assess", nodes.assess)
    graph.add_node("finish", nodes.finish)

    graph.add_edge(START, "train_seed")
    graph.add_conditional_edges("train_seed", route_after_seed, ["evaluate", "finish"])
    graph.add_edge("evaluate", "analyst")
    graph.add_conditional_edges("analyst", fan_out_generators, ["generator", "finish"])
    graph.add_edge("generator", "gather")
    graph.add_conditional_edges("gather", fan_out_labelers, ["labeler", "critic"])
    graph.add_edge("labeler", "critic")
    graph.add_edge("critic", "feedback")
    graph.add_edge("feedback", "train")
    graph.add_edge("train", "assess")
    graph.add_conditional_edges("assess", route_next_round, ["reviewer", "analyst", "finish"])
    graph.add_conditional_edges("reviewer", route_after_review, ["analyst", "finish"])
    graph.add_edge("finish", END)
    return graph
