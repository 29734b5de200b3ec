"""The run's checkpoint file, read as plain data only.

A run directory may come from elsewhere (people zip and share them), and LangGraph's msgpack
checkpoints can name any importable callable to rebuild a value. The graph state is plain data
(numbers, strings, lists, dicts) and LangGraph's own ``Send`` packets; nothing else is rebuilt.
``verify_checkpoints`` reads every stored checkpoint and pending write before a resume starts
anything, and refuses the file (a UserError: one line, exit 2) when one names another type;
``open_checkpointer`` gives the saver a serializer with the same rule.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import ormsgpack
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from evokd.core.errors import UserError

# The only types a checkpoint may name: LangGraph's fan-out packets.
STATE_TYPES: frozenset[tuple[str, str]] = frozenset({("langgraph.types", "Send")})
# Payload kinds our checkpoints are written in (``json`` and ``pickle`` revive objects).
PLAIN_KINDS = frozenset({"null", "bytes", "bytearray", "msgpack"})
# msgpack extension codes of JsonPlusSerializer: 0-2 constructor calls, 3 a method call,
# 4-5 pydantic models, 6 numpy arrays, 7 a delta snapshot (plain data inside)
_CONSTRUCTORS = frozenset({0, 1, 2, 3, 4, 5})
_DELTA_SNAPSHOT = 7


class UnsafeCheckpoint(UserError):
    """A checkpoint names something other than plain data."""


def foreign_type(payload: bytes) -> str | None:
    """What a msgpack ``payload`` names outside ``STATE_TYPES`` (checked without rebuilding
    anything, nested extensions included), or None when it is plain data."""
    found: list[str] = []

    def check(code: int, data: bytes) -> None:
        if code not in _CONSTRUCTORS and code != _DELTA_SNAPSHOT:
            found.append(f"a msgpack extension of kind {code}")
            raise ValueError(found[-1])
        value = ormsgpack.unpackb(data, ext_hook=check, option=ormsgpack.OPT_NON_STR_KEYS)
        if code == _DELTA_SNAPSHOT:
            return None
        named = tuple(value[:2]) if isinstance(value, (list, tuple)) and len(value) >= 3 else ()
        if code == 3 or named not in STATE_TYPES:
            found.append(".".join(str(part) for part in named) or "an unnamed object")
            raise ValueError(found[-1])
        return None

    try:
        ormsgpack.unpackb(payload, ext_hook=check, option=ormsgpack.OPT_NON_STR_KEYS)
    except (ValueError, TypeError, ormsgpack.MsgpackDecodeError):
        return found[0] if found else "an unreadable value"
    return None


class PlainDataSerializer(JsonPlusSerializer):
    """LangGraph's serializer, reading plain data and ``STATE_TYPES`` only: any other payload
    kind or named type raises UnsafeCheckpoint before anything is imported or called."""

    def __init__(self) -> None:
        super().__init__(pickle_fallback=False, allowed_json_modules=None,
                         allowed_msgpack_modules=tuple(STATE_TYPES))

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if (what := refused_payload(*data)) is not None:
            raise UnsafeCheckpoint(what)
        return super().loads_typed(data)


def _refusal(path: Path, what: str) -> UnsafeCheckpoint:
    return UnsafeCheckpoint(
        f"{path} holds {what}, not the plain data evokd writes; it was not loaded and nothing "
        "ran. Resume only run directories you trust, or start a new run with another --run-dir")


def refused_payload(kind: str, payload: bytes | None) -> str | None:
    """What makes one stored value more than plain data, or None when it is plain data."""
    if kind not in PLAIN_KINDS:
        return f"a payload of kind {kind!r}"
    return foreign_type(payload or b"") if kind == "msgpack" else None


def verify_checkpoints(path: Path) -> None:
    """Check every checkpoint and pending write in ``path`` (one at a time, rebuilding
    nothing); raise UnsafeCheckpoint (a UserError) naming the first foreign type found."""
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            tables = {name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"checkpoints", "writes"} <= tables:  # created, never written
                return
            for query in ("SELECT type, checkpoint FROM checkpoints",
                          "SELECT type, value FROM writes"):
                for kind, payload in db.execute(query):
                    if (what := refused_payload(kind, payload)) is not None:
                        raise _refusal(path, what)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: not a readable checkpoint file ({exc}); resume only run "
                        "directories evokd wrote, or start a new run with another --run-dir"
                        ) from None


@contextlib.asynccontextmanager
async def open_checkpointer(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """The run's SQLite checkpointer (file created 0600), reading plain data only."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    async with aiosqlite.connect(str(path)) as connection:
        yield AsyncSqliteSaver(connection, serde=PlainDataSerializer())
