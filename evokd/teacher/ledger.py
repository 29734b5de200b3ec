"""Token accounting per role and per round."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class TokenCounts:
    """Prompt and completion tokens (of calls, a role, a round...)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Usage(TokenCounts):
    """Token and call counts of one slice (a role, a round, or everything)."""

    calls: int = 0
    cache_hits: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int, *, cached: bool) -> None:
        """Count one reply (``cached``: served from the response cache, not the server)."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if cached:
            self.cache_hits += 1
        else:
            self.calls += 1

    def as_dict(self) -> dict[str, int]:
        """Plain dict including ``total_tokens``."""
        return {**asdict(self), "total_tokens": self.total_tokens}


class TokenLedger:
    """Tokens spent so far, per role and per round, counting cached replies too.

    ``calls`` counts replies fetched from the server, ``cache_hits`` replies replayed from the
    cache; both carry their tokens so a rerun from cache takes the same budget decisions.
    ``failed_calls`` counts requests that got no reply (HTTP errors after the SDK's retries).
    ``carried_tokens`` are tokens an earlier process of the same run spent (``carry_over``).
    """

    def __init__(self) -> None:
        self.total = Usage()
        self.by_role: dict[str, Usage] = {}
        self.by_round: dict[int, Usage] = {}
        self.failed_calls = 0
        self.carried_tokens = 0
        self.carried_prompt = self.carried_completion = 0

    def carry_over(self, prompt_tokens: int, completion_tokens: int = 0) -> None:
        """Count tokens spent before this process (a resumed run) in ``total_tokens``."""
        self.carried_prompt += max(0, int(prompt_tokens))
        self.carried_completion += max(0, int(completion_tokens))
        self.carried_tokens = self.carried_prompt + self.carried_completion

    def cost(self, price_in: float | None, price_out: float | None) -> float | None:
        """Everything spent (carried-over tokens included) at ``price_in`` / ``price_out`` per
        million prompt / completion tokens; None without prices."""
        if price_in is None and price_out is None:
            return None
        prompt = self.total.prompt_tokens + self.carried_prompt
        completion = self.total.completion_tokens + self.carried_completion
        return (prompt * (price_in or 0.0) + completion * (price_out or 0.0)) / 1e6

    def record(
        self,
        role: str,
        round_no: int,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cached: bool,
    ) -> None:
        """Account one reply of ``role`` in round ``round_no``."""
        for usage in (
            self.total,
            self.by_role.setdefault(role, Usage()),
            self.by_round.setdefault(round_no, Usage()),
        ):
            usage.add(prompt_tokens, completion_tokens, cached=cached)

    def record_failure(self) -> None:
        """Account one request that got no reply."""
        self.failed_calls += 1

    @property
    def total_tokens(self) -> int:
        """All prompt plus completion tokens so far (carried-over tokens included)."""
        return self.total.total_tokens + self.carried_tokens

    @property
    def prompt_tokens(self) -> int:
        """All prompt tokens so far."""
        return self.total.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        """All completion tokens so far."""
        return self.total.completion_tokens

    @property
    def calls(self) -> int:
        """Replies fetched from the server."""
        return self.total.calls

    @property
    def cache_hits(self) -> int:
        """Replies replayed from the cache."""
        return self.total.cache_hits

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for metrics.jsonl (round keys are strings)."""
        return {
            **self.total.as_dict(),
            "total_tokens": self.total_tokens,
            "carried_tokens": self.carried_tokens,
            "failed_calls": self.failed_calls,
            "by_role": {role: u.as_dict() for role, u in sorted(self.by_role.items())},
            "by_round": {str(r): u.as_dict() for r, u in sorted(self.by_round.items())},
        }
