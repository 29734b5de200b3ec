"""SQLite cache of raw LLM replies, shared by all runs.

Key: sha256 over endpoint + model + messages + request parameters + the output schema's JSON
schema. The file (and its folder, when created here) is private to the user (0600 / 0700): it
holds prompts with the task's texts and the replies.
Value: the raw reply text (valid or not) with its token counts, so a rerun replays the exact
same sequence of replies with zero server calls and the same token accounting.

Safe for concurrent use from one process (a lock around short statements; asyncio callers
never hold it across an ``await``) and from several processes (WAL journal, busy timeout,
one-statement transactions).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_FILE_NAME = "responses.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    raw_text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT,
    created_at REAL NOT NULL
)
"""


def default_cache_dir() -> Path:
    """``$EVOKD_CACHE_DIR`` if set, else ``~/.cache/evokd``."""
    env = os.environ.get("EVOKD_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "evokd"


def default_cache_path() -> Path:
    """The shared cache file: ``default_cache_dir() / "responses.sqlite"``."""
    return default_cache_dir() / CACHE_FILE_NAME


def cache_key(
    model: str,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    schema: dict[str, Any],
    endpoint: str = "",
) -> str:
    """Stable sha256 hex digest of one request (endpoint, model, messages, parameters, output
    schema)."""
    payload = {"endpoint": endpoint, "model": model, "messages": messages, "params": params,
               "schema": schema}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    """One stored reply: raw text as the server returned it, and its token counts."""

    raw_text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None


class ResponseCache:
    """Raw-reply cache in one SQLite file (created with its parent folder if missing)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():  # SQLite gives its -wal and -shm files the same mode
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA busy_timeout = 30000")
        with contextlib.suppress(sqlite3.OperationalError):  # e.g. no shared memory on the FS
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(_SCHEMA)

    def get(self, key: str) -> CachedReply | None:
        """The stored reply for ``key``, or None."""
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT raw_text, prompt_tokens, completion_tokens, finish_reason "
                    "FROM replies WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        return CachedReply(*row) if row else None

    def put(self, key: str, model: str, reply: CachedReply) -> None:
        """Store (or replace) the reply for ``key``."""
        with self._lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO replies (key, model, raw_text, prompt_tokens, "
                "completion_tokens, finish_reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    reply.raw_text,
                    reply.prompt_tokens,
                    reply.completion_tokens,
                    reply.finish_reason,
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"response cache {self.path} is closed")
        return self._conn

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
