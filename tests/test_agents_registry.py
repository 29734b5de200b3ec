"""The agent-role registry."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from evokd.agents import registry


class _Reply(BaseModel):
    value: str


async def _run() -> str:
    return "done"


def test_builtin_roles_registered() -> None:
    assert {"analyst", "generator", "labeler", "critic"} <= set(registry.names())
    role = registry.get("labeler")
    assert role.prompts == ("labeler_ner", "labeler_cls")
    assert callable(role.run) and role.schemas


def test_register_new_role_and_conflicts() -> None:
    role = registry.AgentRole(name="_test_echo", run=_run, schemas=(_Reply,), prompts=())
    try:
        assert registry.register(role) is role
        assert registry.register(role) is role  # idempotent
        assert registry.get("_test_echo") is role
        other = registry.AgentRole(name="_test_echo", run=_run, schemas=(), prompts=("x",))
        with pytest.raises(ValueError):
            registry.register(other)
    finally:
        registry._ROLES.pop("_test_echo", None)


def test_unknown_role() -> None:
    with pytest.raises(KeyError, match="known"):
        registry.get("nope")
