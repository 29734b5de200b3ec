"""The KV cache of a prompt prefix, kept for the next request that starts the same way."""

from __future__ import annotations

import copy
from typing import Any


class PrefixCache:
    """The KV cache of the previous call (or batch's shared prefix), reused for the prompt
    prefix the next call shares.

    Agent prompts repeat long system prompts (the labeler's instructions, the schema), so the
    next prompt usually starts with the same tokens; only the rest is prefilled. Greedy output
    is unchanged (the reuse pattern of the transformers KV-cache guide).
    """

    MIN_SHARED = 16  # shorter shared prefixes are not worth the copy

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._cache: Any = None
        self.hits = 0
        self.reused_tokens = 0

    def lookup(self, ids: list[int]) -> Any:
        """A private copy of the cache cropped to the prefix shared with ``ids``, or None."""
        if self._cache is None:
            return None
        shared = 0
        for a, b in zip(self._ids, ids, strict=False):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(ids) - 1)  # generate needs at least one new token
        if shared < self.MIN_SHARED:
            return None
        cache = copy.deepcopy(self._cache)
        if shared < cache.get_seq_length():  # crop takes the (negative) number to drop
            cache.crop(shared - cache.get_seq_length())
        self.hits += 1
        self.reused_tokens += shared
        return cache

    def store(self, sequence: list[int], cache: Any) -> None:
        """Remember the cache of ``sequence`` (a finished call: all but its last token)."""
        if cache is None or not hasattr(cache, "crop"):
            self.clear()
            return
        self._cache = cache
        self._ids = sequence[: cache.get_seq_length()]

    def clear(self) -> None:
        """Forget the cached prefix."""
        self._ids, self._cache = [], None
