"""The agent-role registry."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from evokd.agents import registry


class _Reply(BaseModel):
    value: str


async def _run() -> str:
    return "done"


async def _node(state: object, runtime: object) -> dict[str, object]:
    return {}


def test_only_optional_roles_are_registered() -> None:
    # the core roles are the loop itself (graph/build.py wires them by name)
    assert "reviewer" in registry.names()
    assert not {"analyst", "generator", "labeler", "critic"} & set(registry.names())
    role = registry.get("reviewer")
    assert callable(role.run) and callable(role.node) and role.stage in registry.STAGES


def test_register_new_role_and_conflicts() -> None:
    role = registry.AgentRole(name="_test_echo", run=_run, schemas=(_Reply,), prompts=(),
                              node=_node, stage="after_critic", switch="echo")
    try:
        assert registry.register(role) is role
        assert registry.register(role) is role  # idempotent
        assert registry.get("_test_echo") is role
        other = registry.AgentRole(name="_test_echo", run=_run, schemas=(), prompts=("x",),
                                   node=_node, stage="after_critic", switch="echo")
        with pytest.raises(ValueError):
            registry.register(other)
    finally:
        registry._ROLES.pop("_test_echo", None)


def test_unknown_role() -> None:
    with pytest.raises(KeyError, match="known"):
        registry.get("nope")
