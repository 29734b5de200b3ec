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


def stance_quotas(config: StrategySettings) -> dict[Stance, int]:
    """The round's sample quota per stance: half hard (rounded up), half easy; all hard with
    --no-easy; all plain for the static baseline."""
    stances, total = plan(config).stances, config.samples_per_round
    if len(stances) == 1:
        return {stances[0]: total}
    hard = math.ceil(total / 2)
    return {"hard": hard, "easy": total - hard}
