"""ResponseCache, TokenLedger and TeacherSettings."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from evokd.teacher import (
    CachedReply,
    ResponseCache,
    TeacherSettings,
    TokenLedger,
    cache_key,
    default_cache_path,
)

MESSAGES = [{"role": "user", "content": "hi"}]
PARAMS = {"temperature": 0.8, "max_tokens": 10, "seed": None, "method": "json_object"}


def test_default_cache_path_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EVOKD_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_path() == tmp_path / "c" / "responses.sqlite"
    monkeypatch.delenv("EVOKD_CACHE_DIR")
    assert default_cache_path() == Path.home() / ".cache" / "evokd" / "responses.sqlite"


def test_cache_key_depends_on_every_part():
    base = cache_key("m", MESSAGES, PARAMS, {"type": "object"})
    assert base == cache_key("m", [dict(m) for m in MESSAGES], dict(PARAMS), {"type": "object"})
    assert base != cache_key("m2", MESSAGES, PARAMS, {"type": "object"})
    assert base != cache_key("m", [{"role": "user", "content": "hi!"}], PARAMS, {"type": "object"})
    assert base != cache_key("m", MESSAGES, {**PARAMS, "temperature": 0.0}, {"type": "object"})
    assert base != cache_key("m", MESSAGES, {**PARAMS, "call_key": "2"}, {"type": "object"})
    assert base != cache_key("m", MESSAGES, PARAMS, {"type": "array"})


def test_put_get_roundtrip_and_persistence(tmp_path):
    path = tmp_path / "sub" / "r.sqlite"
    with ResponseCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", "m", CachedReply("raw ü", 3, 4, "length"))
        cache.put("k", "m", CachedReply("raw 2", 5, 6))  # replace
    with ResponseCache(path) as cache:
        assert cache.get("k") == CachedReply("raw 2", 5, 6, None)
        assert len(cache) == 1
    with pytest.raises(RuntimeError, match="closed"):
        cache.get("k")


def test_default_location_is_used_without_a_path(_isolated_env):
    with ResponseCache() as cache:
        assert cache.path == _isolated_env / "responses.sqlite"


def _writer(path: str, worker: int, count: int) -> None:
    with ResponseCache(path) as cache:
        for i in range(count):
            cache.put(f"{worker}-{i}", "m", CachedReply(f"reply {worker} {i}", i, i))
            cache.get(f"{1 - worker}-{i}")


def test_two_processes_share_one_cache_file(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path).close()  # create the schema once
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, w, 150)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    with ResponseCache(path) as cache:
        assert len(cache) == 300
        assert cache.get("1-149") == CachedReply("reply 1 149", 149, 149)


async def test_concurrent_asyncio_use(tmp_path):
    with ResponseCache(tmp_path / "a.sqlite") as cache:

        async def work(i: int) -> None:
            await asyncio.sleep(0)
            cache.put(str(i), "m", CachedReply(str(i), i, i))
            assert cache.get(str(i)) == CachedReply(str(i), i, i)

        await asyncio.gather(*(work(i) for i in range(100)))
        assert len(cache) == 100


def test_ledger_counts_per_role_and_round():
    ledger = TokenLedger()
    ledger.record("labeler", 1, 10, 5, cached=False)
    ledger.record("labeler", 2, 7, 3, cached=True)
    ledger.record("analyst", 2, 1, 1, cached=False)
    ledger.record_failure()
    assert ledger.total_tokens == 27 and ledger.prompt_tokens == 18
    assert ledger.calls == 2 and ledger.cache_hits == 1
    d = ledger.as_dict()
    assert d["total_tokens"] == 27 and d["failed_calls"] == 1
    assert d["by_role"]["labeler"] == {
        "prompt_tokens": 17,
        "completion_tokens": 8,
        "calls": 1,
        "cache_hits": 1,
        "total_tokens": 25,
    }
    assert d["by_round"]["2"]["total_tokens"] == 12
    assert list(d["by_round"]) == ["1", "2"]


def test_settings_hide_the_key():
    s = TeacherSettings(base_url="http://x/v1", model="m", api_key="sk-secret-1")
    assert "sk-secret-1" not in repr(s)
    public = s.public_dict()
    assert "api_key" not in public and public["model"] == "m"
    assert public["structured_method"] == "json_object" and public["max_concurrency"] == 8


@pytest.mark.parametrize(
    "bad",
    [
        {"max_concurrency": 0},
        {"structured_method": "xml"},
        {"http_retries": -1},
        {"max_tokens": 0},
        {"budget_tokens": -5},
    ],
)
def test_settings_reject_nonsense(bad):
    with pytest.raises(ValueError):
        TeacherSettings(base_url="http://x/v1", model="m", api_key="", **bad)
