"""Registry of optional agent roles (plugins such as the reviewer): a new role is a module
under ``agents/``, its prompt under ``prompts/`` and one ``register`` call.

A role brings its graph node, the ``stage`` of a round where it runs and the help of its
on/off flag (``--NAME``, off by default); ``graph/build.py`` attaches every registered role at
its stage, the flag and config.json's ``roles`` come from the registration. Role modules
register themselves when imported; ``get``, ``names`` and ``optional_roles`` import every
module of the ``agents`` package first, so callers need no import list.

The core roles (analyst, generator, labeler, critic) are not registered: they are the loop
itself, each wired by name in ``graph/build.py`` to a node of ``graph/nodes.py`` that also
runs the student and the critic's rules, and none of them can be switched off or moved.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

# Where an optional role can run in a round: the stage's name and where graph/build.py
# attaches it. Roles of one stage run one after the other, in name order.
STAGES: dict[str, str] = {
    "round_start": "before the analyst, every round (from round 1; `when` can skip rounds)",
    "after_critic": "after the critic has accepted the round's batch, before the feedback step",
}

Node = Callable[[Any, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class AgentRole:
    """One optional LLM role: its name, async entry point, reply schemas and prompt
    templates; its graph ``node`` (``async (state, runtime) -> state update``), its ``stage``
    (a key of ``STAGES``), ``switch`` (the help of its ``--NAME`` flag) and ``when`` (a test on
    the state: False skips the role this round; default: always run)."""

    name: str
    run: Callable[..., Awaitable[Any]]
    schemas: tuple[type[BaseModel], ...]
    prompts: tuple[str, ...]
    description: str = ""
    node: Node = field(kw_only=True)
    stage: str = ""
    switch: str = ""
    when: Callable[[Mapping[str, Any]], bool] | None = None

    def due(self, config: Any, state: Mapping[str, Any]) -> bool:
        """Whether the role runs at this point of the round: switched on in ``config`` (a
        RunConfig) and its ``when`` holds."""
        return config.role_on(self.name) and (self.when is None or bool(self.when(state)))


_ROLES: dict[str, AgentRole] = {}
_discovered = False


def _check(role: AgentRole) -> None:
    if not role.name.isidentifier():
        raise ValueError(f"agent role name {role.name!r} must be a Python identifier")
    if role.stage not in STAGES:
        raise ValueError(f"agent role {role.name!r}: stage must be one of {sorted(STAGES)}, "
                         f"got {role.stage!r}")
    if not role.switch:
        raise ValueError(f"agent role {role.name!r}: a role needs `switch`, the help of its "
                         "--NAME flag")


def register(role: AgentRole) -> AgentRole:
    """Add ``role``; registering another role under a taken name raises ValueError."""
    _check(role)
    current = _ROLES.get(role.name)
    if current is not None and current != role:
        raise ValueError(f"agent role {role.name!r} is already registered")
    _ROLES[role.name] = role
    return role


def unregister(name: str) -> None:
    """Remove the role ``name`` (tests that register a role of their own clean up with it)."""
    _ROLES.pop(name, None)


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    package = importlib.import_module("evokd.agents")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"evokd.agents.{module.name}")
    _discovered = True


def get(name: str) -> AgentRole:
    """The role registered as ``name``; KeyError lists the known names."""
    _discover()
    try:
        return _ROLES[name]
    except KeyError:
        raise KeyError(f"unknown agent role {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    """Names of all registered roles, sorted."""
    _discover()
    return sorted(_ROLES)


def optional_roles(stage: str | None = None) -> list[AgentRole]:
    """The registered roles (of ``stage`` only, when given), in name order."""
    _discover()
    return [role for _, role in sorted(_ROLES.items()) if stage is None or role.stage == stage]
