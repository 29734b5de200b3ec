"""The EvoKD loop as a LangGraph state machine (the paper's Figure 2).

    train_seed ─► evaluate ─► analyst ─► select ─► generator ×N ─► gather ─► labeler ×M
                                 ▲                                                   │
             [round_start roles] ┤                           critic ◄────────────────┘
                                 │                 [after_critic roles]
                 finish ◄── route ◄── assess ◄── train ◄── feedback ◄── ┘

``select`` picks the round's texts from ``--pool`` (and passes straight on without one).
A round starts at the analyst and ends at assess; ``route_next_round`` decides whether another
round runs (rounds, token budget, dev-F1 patience). Generator and labeler calls fan out with
``Send`` and run concurrently, bounded by the teacher client's semaphore.

Optional agent roles (plugins such as the reviewer, see agents/registry.py) are attached at
their stage: every registered one is in the graph, so graph.mmd and checkpoints do not depend
on the flags; a router passes through the ones switched on (``--NAME``) whose ``when`` holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, cast

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from evokd.agents.registry import AgentRole, optional_roles
from evokd.graph import nodes
from evokd.graph.context import RunContext
from evokd.graph.state import LabelerJob, LoopState
from evokd.graph.targeting import generator_jobs

Router = Callable[[LoopState, Any], str]
LoopGraph = StateGraph[LoopState, RunContext, LoopState, LoopState]


class LoopNode(Protocol):
    """A node as LangGraph calls it: the state, and the run's context as ``runtime``."""

    def __call__(self, state: LoopState, *, runtime: Runtime[RunContext]
                 ) -> Awaitable[dict[str, Any]]: ...


def route_after_seed(state: LoopState, runtime: Any) -> Literal["evaluate", "finish"]:
    """Rounds 0 means the seed student is the result."""
    return "evaluate" if runtime.context.config.rounds > 0 else "finish"


def fan_out_generators(state: LoopState, runtime: Any
                       ) -> list[Send] | Literal["finish", "gather"]:
    """One ``Send`` per generator call; straight on when the pool gave every text; stop if
    the analyst hit the token budget."""
    if state.get("stop_reason"):
        return "finish"
    return [Send("generator", job) for job in generator_jobs(state, runtime.context)] or (
        "gather")


def fan_out_labelers(state: LoopState) -> list[Send] | Literal["critic"]:
    """One ``Send`` per generated text (labelling is a separate call per text)."""
    jobs = [LabelerJob(sample=s, round=state["round"]) for s in state.get("texts", [])]
    return [Send("labeler", job) for job in jobs] or "critic"


def attach_stage(graph: LoopGraph, stage: str, target: str, *, on_stop: str) -> Router:
    """Chain the optional roles of ``stage`` in front of ``target``; returns the router into
    the chain. A router picks the next role that is switched on and runs now, else ``target``;
    once a stop reason is set it goes to ``on_stop``."""
    roles = optional_roles(stage)

    def router_from(start: int) -> Router:
        def route(state: LoopState, runtime: Any) -> str:
            if state.get("stop_reason"):
                return on_stop
            due = (r.name for r in roles[start:] if r.due(runtime.context.config, state))
            return next(due, target)
        return route

    for index, role in enumerate(roles):
        graph.add_node(role.name, cast(LoopNode, role.node))
        graph.add_conditional_edges(role.name, router_from(index + 1),
                                    _targets(roles[index + 1:], target, on_stop))
    return router_from(0)


def _targets(roles: list[AgentRole], target: str, on_stop: str) -> list[str]:
    """Where a router in front of ``roles`` may lead (in order, once each)."""
    return list(dict.fromkeys([*(r.name for r in roles), target, on_stop]))


def stage_targets(stage: str, target: str, on_stop: str) -> list[str]:
    """Where a router into ``stage``'s chain may lead."""
    return _targets(optional_roles(stage), target, on_stop)


def connect(graph: LoopGraph, source: str, stage: str, target: str, on_stop: str) -> Router:
    """``source`` ─► the roles of ``stage`` ─► ``target`` (a plain edge without such roles)."""
    into_stage = attach_stage(graph, stage, target, on_stop=on_stop)
    if optional_roles(stage):
        graph.add_conditional_edges(source, into_stage, stage_targets(stage, target, on_stop))
    else:
        graph.add_edge(source, target)
    return into_stage


def send_target(node: Callable[..., Awaitable[dict[str, Any]]]) -> LoopNode:
    """A node that only ``Send`` calls, with its job (a TypedDict) as its input. It is added
    with the state as its input schema: LangGraph would otherwise read the job's keys as state
    channels of their own."""
    return cast(LoopNode, node)


def build_graph() -> LoopGraph:
    """The uncompiled loop; compile it with a checkpointer to run it."""
    graph = StateGraph(LoopState, context_schema=RunContext)
    graph.add_node("train_seed", nodes.train_seed)
    graph.add_node("evaluate", nodes.evaluate)
    graph.add_node("analyst", nodes.analyst)
    graph.add_node("select", nodes.select)
    graph.add_node("generator", send_target(nodes.generator), input_schema=LoopState)
    graph.add_node("gather", nodes.gather)
    graph.add_node("labeler", send_target(nodes.labeler), input_schema=LoopState)
    graph.add_node("critic", nodes.critic)
    graph.add_node("feedback", nodes.feedback)
    graph.add_node("train", nodes.train)
    graph.add_node("assess", nodes.assess)
    graph.add_node("finish", nodes.finish)

    graph.add_edge(START, "train_seed")
    graph.add_conditional_edges("train_seed", route_after_seed, ["evaluate", "finish"])
    round_start = connect(graph, "evaluate", "round_start", "analyst", on_stop="finish")
    graph.add_edge("analyst", "select")
    graph.add_conditional_edges("select", fan_out_generators, ["generator", "gather", "finish"])
    graph.add_edge("generator", "gather")
    graph.add_conditional_edges("gather", fan_out_labelers, ["labeler", "critic"])
    graph.add_edge("labeler", "critic")
    connect(graph, "critic", "after_critic", "feedback", on_stop="feedback")
    graph.add_edge("feedback", "train")
    graph.add_edge("train", "assess")

    def route_next_round(state: LoopState, runtime: Any) -> str:
        """Another round (through the round-start roles that are on), or stop (rounds done,
        token budget spent, no dev gain)."""
        if nodes.stop_reason(state, runtime.context):
            return "finish"
        return round_start(state, runtime)

    graph.add_conditional_edges("assess", route_next_round,
                                stage_targets("round_start", "analyst", "finish"))
    graph.add_edge("finish", END)
    return graph
