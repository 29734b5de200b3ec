"""The teacher's HTTP client: every request bounded in total time and in reply size.

httpx's timeouts bound each wait for bytes, so an endpoint sending one byte a second holds a
request (and a concurrency slot) for as long as it likes. Here ``--timeout`` covers the whole
request, from sending to the last byte of the reply; the SDK retries a request that ran out of
time as it retries any timeout, each retry with a fresh allowance. A reply body larger than a
reply of ``max_tokens`` can be is refused once that many bytes have arrived (``ReplyTooLarge``,
an SDK error that the SDK does not retry), so it never reaches the cache, the trace or a prompt.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai

# Bytes one completion token may take in a reply body: up to 16 characters a token (a
# generous bound; about 4 is usual), each up to 6 bytes as a JSON escape, nested once more
# when the reply is a tool call's arguments.
BYTES_PER_TOKEN = 128
ENVELOPE_BYTES = 64 * 1024  # the completion object, usage, headers of the body
CHARS_PER_TOKEN = 16  # reply text longer than this many characters a token is refused


def reply_byte_limit(max_tokens: int) -> int:
    """The largest reply body a request capped at ``max_tokens`` can need."""
    return ENVELOPE_BYTES + max_tokens * BYTES_PER_TOKEN


def reply_char_limit(max_tokens: int) -> int:
    """The longest reply text ``max_tokens`` tokens can hold."""
    return max_tokens * CHARS_PER_TOKEN


class ReplyTooLarge(openai.APIError):
    """The endpoint sent more than a reply can hold; the rest was not read."""

    def __init__(self, request: httpx2.Request, limit: int) -> None:
        super().__init__(f"the endpoint sent a reply body of over {limit} bytes, more than "
                         "max_tokens allows; refused unread", request, body=None)
        self.limit = limit


_RECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class BoundedHttpClient(openai.DefaultAsyncHttpxClient):
    """The SDK's default async client, with a total time (``total_s``) and a body size
    (``max_bytes``, after decompression) for each request. Replies are read whole (the teacher
    never streams)."""

    def __init__(self, *, total_s: float, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.total_s = total_s
        self.max_bytes = max_bytes

    async def send(self, request: httpx2.Request, *, stream: bool = False,
                   **kwargs: Any) -> httpx2.Response:
        try:
            return await asyncio.wait_for(self._send_whole(request, **kwargs), self.total_s)
        except asyncio.TimeoutError:
            raise httpx2.ReadTimeout(f"no complete reply within {self.total_s:g}s",
                                     request=request) from None

    async def _send_whole(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        response = await super().send(request, stream=True, **kwargs)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise ReplyTooLarge(request, self.max_bytes)
                chunks.append(chunk)
        finally:
            await response.aclose()
        whole = httpx2.Response(
            response.status_code, content=b"".join(chunks), request=request,
            headers=[(k, v) for k, v in response.headers.multi_items()
                     if k.lower() not in _RECODED],
            extensions=response.extensions)
        whole.elapsed = response.elapsed
        return whole
