"""Fault injection for the fake OpenAI server: the ``Faulty`` responder wrapper."""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from collections import Counter
from typing import Any

from fakes.replies import Reply, ReplyLike, Responder

TRANSPORT_FAULTS = ("429", "500", "503", "hang", "drop", "truncated")
CONTENT_FAULTS = ("wrong_keys", "unknown_label", "empty")
FAULT_KINDS = TRANSPORT_FAULTS + CONTENT_FAULTS
BOGUS_LABEL = "NOT_A_LABEL"


class Faulty:
    """Responder wrapper that injects faults at ``rate``, deterministically by ``seed``.

    Transport faults (``TRANSPORT_FAULTS``): 429 with ``Retry-After``, 500, 503 with
    ``Retry-After``, a hang longer than any test timeout (``hang_s``), a dropped connection and
    a 200 whose JSON body is cut in half. Content faults (``CONTENT_FAULTS``): a JSON object with
    none of the expected keys, the real reply with its labels replaced by ``BOGUS_LABEL``
    (entity types, class labels, weak labels; verdict indexes out of range; no texts), and an
    empty reply.

    A request is identified by its *original* conversation: the messages before the first
    assistant message (the client's validate-and-retry loop appends the bad reply and a
    correction). Attempt ``n`` of a conversation faults when a hash of (seed, conversation, n)
    falls below ``rate``, at most ``max_per_request`` times per conversation, so with the
    client's retries (SDK: ``http_retries``; validation: ``validation_retries``, spent by content
    faults and truncated bodies) every request gets its real reply in the end. ``inner`` always
    sees the original conversation, so a retried request gets the reply the first attempt
    would have had.

    ``faults`` counts the injected faults by kind; ``log`` holds ``(kind, conversation, n)``.
    """

    def __init__(
        self,
        inner: Responder,
        rate: float = 0.3,
        *,
        seed: int = 0,
        kinds: tuple[str, ...] | list[str] = FAULT_KINDS,
        max_per_request: int = 2,
        hang_s: float = 30.0,
        retry_after: float = 0.05,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"fault kinds must be among {FAULT_KINDS}, got {sorted(unknown)}")
        self.inner = inner
        self.rate = rate
        self.seed = seed
        self.kinds = tuple(kinds)
        self.max_per_request = max_per_request
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.faults: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self._attempts: Counter[str] = Counter()
        self._faulted: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def original(request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with the messages from the first assistant message on removed."""
        messages = request.get("messages") or []
        cut = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"),
                   len(messages))
        return {**request, "messages": messages[:cut]}

    def _draw(self, conversation: str, n: int) -> tuple[float, int]:
        digest = hashlib.sha256(f"{self.seed}|{conversation}|{n}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big")

    async def __call__(self, request: dict[str, Any]) -> ReplyLike:
        original = self.original(request)
        conversation = hashlib.sha256(
            json.dumps(original.get("messages"), sort_keys=True).encode()
        ).hexdigest()[:16]
        with self._lock:
            n = self._attempts[conversation]
            self._attempts[conversation] += 1
            draw, pick = self._draw(conversation, n)
            kind = None
            if draw < self.rate and self._faulted[conversation] < self.max_per_request:
                kind = self.kinds[pick % len(self.kinds)]
                self._faulted[conversation] += 1
        real = self.inner(original)
        if inspect.isawaitable(real):
            real = await real
        if kind is None:
            return real
        reply = self._fault(kind, real)
        with self._lock:
            self.faults[kind] += 1
            self.log.append((kind, conversation, n))
        return reply

    def _fault(self, kind: str, real: ReplyLike) -> ReplyLike:
        if kind == "429":
            return Reply.error(429, "Rate limit reached (injected)", retry_after=self.retry_after)
        if kind == "500":
            return Reply.error(500, "The server had an error (injected)")
        if kind == "503":
            return Reply.error(503, "Overloaded (injected)", retry_after=self.retry_after)
        if kind == "hang":
            return Reply(content=_content(real), delay=self.hang_s)
        if kind == "drop":
            return Reply(content=_content(real), drop=True)
        if kind == "truncated":
            body = json.dumps({"id": "chatcmpl-cut", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": _content(real)}}]})
            return Reply(raw_body=body[: len(body) // 2])
        if kind == "empty":
            return ""
        if kind == "unknown_label":
            mutated = mislabel(_content(real))
            if mutated is not None:
                return mutated
        return json.dumps({"answer": _content(real)[:200], "note": "wrong keys (injected)"})


def _content(reply: ReplyLike) -> str:
    return reply.content if isinstance(reply, Reply) else str(reply)


def mislabel(content: str) -> str | None:
    """``content`` (a JSON reply) with every label made unknown, or None if it has none.

    Entity ``type``s and class ``label``s become ``BOGUS_LABEL`` (an empty entity list gets one
    bogus entity), ``weak_labels`` become ``[BOGUS_LABEL]``, verdict ``index``es go out of
    range and ``texts`` become empty.
    """
    try:
        value = json.loads(content)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    changed = False
    if isinstance(value.get("label"), str):
        value["label"], changed = BOGUS_LABEL, True
    if isinstance(value.get("entities"), list):
        value["entities"] = [{**e, "type": BOGUS_LABEL} for e in value["entities"]
                             if isinstance(e, dict)] or [{"text": "x", "type": BOGUS_LABEL}]
        changed = True
    if isinstance(value.get("weak_labels"), list):
        value["weak_labels"], changed = [BOGUS_LABEL], True
    if isinstance(value.get("verdicts"), list):
        value["verdicts"] = [{**v, "index": 10_000 + i} for i, v in enumerate(value["verdicts"])
                             if isinstance(v, dict)]
        changed = True
    if isinstance(value.get("texts"), list):
        value["texts"], changed = [], True
    return json.dumps(value) if changed else None
