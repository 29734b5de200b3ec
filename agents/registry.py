"""Registry of agent roles: a new role is a module under ``agents/`` plus one ``register`` call.

Role modules register themselves when imported; ``get`` and ``names`` import every module of the
``agents`` package first, so callers need no import list.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class AgentRole:
    """One LLM role: its name, async entry point, reply schemas and prompt templates."""

    name: str
    run: Callable[..., Awaitable[Any]]
    schemas: tuple[type[BaseModel], ...]
    prompts: tuple[str, ...]
    description: str = ""


_ROLES: dict[str, AgentRole] = {}
_discovered = False


def register(role: AgentRole) -> AgentRole:
    """Add ``role``; registering another role under a taken name raises ValueError."""
    current = _ROLES.get(role.name)
    if current is not None and current != role:
        raise ValueError(f"agent role {role.name!r} is already registered")
    _ROLES[role.name] = role
    return role


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    package = importlib.import_module("agents")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"agents.{module.name}")
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
