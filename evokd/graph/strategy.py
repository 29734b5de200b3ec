"""What each ``--strategy`` does to a round, in one place, with the ablations that switch off
one part of it (``--no-easy``, ``--no-history``); the nodes and the targeting ask here instead
of testing the strategy's name.

- ``evokd``: the student's feedback and the analyst steer each round; easy and hard texts; the
  review history is kept and shown.
- ``static``: the AugGPT/ZeroGen-style baseline: plain texts for the target labels, with no
  feedback, analysis or history.
- ``none``: the seed student alone (no rounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from evokd.samples.records import Stance


class StrategySettings(Protocol):
    """The settings a plan reads (``RunConfig`` has them; this module does not import it, since
    the config reads ``STRATEGIES`` from here)."""

    @property
    def strategy(self) -> str: ...
    @property
    def easy(self) -> bool: ...
    @property
    def history(self) -> bool: ...
    @property
    def samples_per_round(self) -> int: ...
    @property
    def pool(self) -> str: ...
    @property
    def source(self) -> str: ...


@dataclass(frozen=True)
class Strategy:
    """The parts of the loop a strategy uses."""

    rounds: bool  # runs LLM rounds at all
    feedback: bool  # the student's right and wrong predictions are collected for the analyst
    analysis: bool  # the analyst explains the student's weaknesses
    history: bool  # rounds are remembered and shown to the LLM
    stances: tuple[Stance, ...]  # the kinds of text a round asks for


STRATEGIES: dict[str, Strategy] = {
    "evokd": Strategy(rounds=True, feedback=True, analysis=True, history=True,
                      stances=("hard", "easy")),
    "static": Strategy(rounds=True, feedback=False, analysis=False, history=False,
                       stances=("plain",)),
    "none": Strategy(rounds=False, feedback=False, analysis=False, history=False, stances=()),
}


def strategy(name: str) -> Strategy:
    """The strategy ``name`` as such (``--strategy``), before ablations."""
    return STRATEGIES[name]


def plan(config: StrategySettings) -> Strategy:
    """The run's strategy with its ablations applied: ``--no-history`` keeps no review
    history, ``--no-easy`` asks for hard texts only."""
    base = strategy(config.strategy)
    stances = tuple(s for s in base.stances if config.easy or s != "easy")
    return Strategy(rounds=base.rounds, feedback=base.feedback, analysis=base.analysis,
                    history=base.history and config.history, stances=stances)


SOURCES = ("auto", "generate", "pool", "mixed")


def text_source(config: StrategySettings) -> str:
    """Where a round's texts come from: ``generate`` (the generator writes them), ``pool``
    (picked from ``--pool``) or ``mixed`` (the hard quota picked, the easy quota written);
    ``auto`` is ``pool`` when a pool is given, else ``generate``."""
    if config.source != "auto":
        return config.source
    return "pool" if config.pool else "generate"


def stance_quotas(config: StrategySettings) -> dict[Stance, int]:
    """The round's quota of written texts per stance: half hard (rounded up), half easy; all
    hard with --no-easy; all plain for the static baseline. Texts picked from a pool take the
    whole quota (``pool``) or the hard half (``mixed``)."""
    stances, total = plan(config).stances, config.samples_per_round
    if len(stances) == 1:
        quotas: dict[Stance, int] = {stances[0]: total}
    else:
        hard = math.ceil(total / 2)
        quotas = {"hard": hard, "easy": total - hard}
    source = text_source(config)
    if source == "pool":
        return {}
    if source == "mixed":
        quotas.pop("hard", None)
    return quotas


def pool_quota(config: StrategySettings) -> int:
    """How many of the round's texts are picked from the pool (0 without one)."""
    if text_source(config) == "generate":
        return 0
    return config.samples_per_round - sum(stance_quotas(config).values())
