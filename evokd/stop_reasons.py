"""Why a run stops: the reason a node writes into the state, the trace's ``run_end`` event
carries and the summary prints (one definition each, for the loop and the optional roles)."""

from __future__ import annotations

BUDGET_SPENT = "token budget spent"  # --budget-tokens: a call could have crossed the cap
DONE = "done"  # the loop ended without any other reason


def rounds_done(rounds: int) -> str:
    """The reason after the last of ``rounds`` rounds (``--rounds``)."""
    return f"{rounds} rounds done"


def no_gain(patience: int) -> str:
    """The reason after ``patience`` rounds without a dev F1 gain (``--patience``)."""
    return f"no dev F1 gain for {patience} rounds"
