"""Request pacing: ``--rpm`` / ``--tpm`` limits and the server's rate-limit headers.

Limits are kept over a sliding window (60 s for per-minute limits): a request is sent only when
the requests sent in the last window, and the tokens they reserved (prompt + ``max_tokens``, as
providers count them), leave room for it, so no window ever holds more than the limit. After
each reply, the ``x-ratelimit-remaining-requests`` / ``x-ratelimit-remaining-tokens`` headers
that OpenAI and vLLM send are read: when fewer remain than the requests (or tokens) that may be
in flight at once, new requests wait for ``x-ratelimit-reset-requests`` /
``x-ratelimit-reset-tokens``, at most ``max_pause_s`` (300 s): a longer or non-finite reset
is taken as that cap and reported, so no header can stall a run. A 429's ``Retry-After`` is
honoured by the SDK's own retry.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None) -> float | None:
    """Seconds in a reset header: ``"1s"``, ``"6m0s"``, ``"20ms"`` or a plain number."""
    if not value:
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isnan(number) else max(0.0, number)
    parts = _DURATION.findall(text)
    if not parts:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except (ValueError, OverflowError):
        return None


class Pacer:
    """Waits before each request until the limits leave room for it (shared by all roles)."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None, *, window_s: float = 60.0,
                 concurrency: int = 1, clock: Callable[[], float] = time.monotonic,
                 max_pause_s: float = 300.0) -> None:
        self.rpm, self.tpm, self.window_s = rpm, tpm, window_s
        self.max_pause_s = max_pause_s
        self.concurrency = concurrency
        self._clock = clock
        self._sent: deque[tuple[float, int]] = deque()  # (time, tokens reserved)
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waited_s = 0.0  # total time requests spent waiting here
        self.header_pauses = 0

    @property
    def active(self) -> bool:
        """Whether anything can make a request wait."""
        return bool(self.rpm or self.tpm or self._paused_until)

    def _delay(self, now: float, tokens: int) -> float:
        while self._sent and self._sent[0][0] <= now - self.window_s:
            self._sent.popleft()
        wait = self._paused_until - now
        oldest = self._sent[0][0] + self.window_s - now if self._sent else 0.0
        if self.rpm and len(self._sent) >= self.rpm:
            wait = max(wait, oldest)
        if self.tpm and self._sent and sum(t for _, t in self._sent) + tokens > self.tpm:
            wait = max(wait, oldest)
        return wait

    async def acquire(self, tokens: int) -> None:
        """Return once a request reserving ``tokens`` may be sent, and count it as sent."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:  # first come, first served
            while (wait := self._delay(self._clock(), tokens)) > 0:
                self.waited_s += wait
                await asyncio.sleep(wait)
            self._sent.append((self._clock(), tokens))

    def observe(self, headers: Mapping[str, str] | None, tokens: int) -> dict[str, Any] | None:
        """Slow down when the server's rate-limit headers say its window is nearly used up
        (``tokens``: what one request reserves, to judge the tokens left). Returns a
        ``rate_limit_pause`` trace event when a reset asked for more than ``max_pause_s`` (or
        for no finite time) and the cap was used instead, else None."""
        if not headers:
            return None
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        asked: list[tuple[str, float]] = []
        requests = _int(lower.get("x-ratelimit-remaining-requests"))
        if requests is not None and requests < self.concurrency:
            asked.append(("x-ratelimit-reset-requests", self._reset(lower, "requests")))
        left = _int(lower.get("x-ratelimit-remaining-tokens"))
        if left is not None and left < self.concurrency * tokens:
            asked.append(("x-ratelimit-reset-tokens", self._reset(lower, "tokens")))
        if not asked:
            return None
        header, pause = max(asked, key=lambda item: math.inf if math.isnan(item[1]) else item[1])
        capped = not pause <= self.max_pause_s  # also NaN and inf
        pause = self.max_pause_s if capped else pause
        self.header_pauses += 1
        self._paused_until = max(self._paused_until, self._clock() + pause)
        if not capped:
            return None
        return {"event": "rate_limit_pause", "header": header, "asked": lower.get(header, "")[:40],
                "seconds": pause, "capped": True}

    @staticmethod
    def _reset(headers: Mapping[str, str], kind: str) -> float:
        return parse_reset(headers.get(f"x-ratelimit-reset-{kind}")) or 1.0
