"""The hard token budget: a call reserves its prompt plus ``max_tokens`` before it is sent, so
calls running at the same time can never cross ``budget_tokens`` together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from evokd.teacher.errors import BudgetExhausted
from evokd.teacher.ledger import TokenLedger
from evokd.teacher.settings import TeacherSettings


class TokenBudget:
    """What the ledger has spent plus what calls in flight hold, against ``budget_tokens``."""

    def __init__(self, settings: TeacherSettings, ledger: TokenLedger) -> None:
        self.settings = settings
        self.ledger = ledger
        self.reserved = 0  # tokens held for calls in flight

    def reservation(self, convo: list[dict[str, str]]) -> int:
        """The most one call of ``convo`` may cost: its prompt (counted generously, at 3
        characters a token) plus ``max_tokens``."""
        prompt = sum(len(m["content"]) for m in convo)
        return -(-prompt // 3) + self.settings.max_tokens

    def check(self, need: int = 0) -> None:
        """Raise BudgetExhausted when the budget is spent, or when a call costing up to
        ``need`` tokens, on top of what calls in flight have reserved, could cross it."""
        budget = self.settings.budget_tokens
        if budget is None:
            return
        spent = self.ledger.total_tokens
        if spent >= budget or spent + self.reserved + need > budget:
            raise BudgetExhausted(spent, budget)

    @contextmanager
    def hold(self, need: int) -> Iterator[None]:
        """Keep ``need`` tokens reserved while the call inside runs."""
        self.reserved += need
        try:
            yield
        finally:
            self.reserved -= need
