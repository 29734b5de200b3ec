"""Shared pytest fixtures.

- ``_isolated_env`` (autouse): the LLM response cache goes to a per-test temp folder and the
  standard OpenAI variables are unset, so no test touches ~/.cache or a real endpoint.
- ``fake_openai``: factory starting a local OpenAI-compatible server (fakes/openai_server.py).
- ``teacher_settings``: factory of TeacherSettings pointing at such a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evokd.teacher.settings import TeacherSettings
from fakes.openai_server import FakeOpenAI
from fakes.replies import Responder

FakeOpenAIFactory = Callable[..., FakeOpenAI]

# tiny_* / reference_run / run_loop, env_key fixtures
pytest_plugins = ("tests.tiny", "tests.reliability", "tests.loop_runs")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Per-test EVOKD_CACHE_DIR; no OPENAI_BASE_URL / OPENAI_API_KEY from the outer shell."""
    cache_dir: Path = tmp_path_factory.mktemp("evokd-cache")
    monkeypatch.setenv("EVOKD_CACHE_DIR", str(cache_dir))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY", "OPENAI_ORG_ID"):
        monkeypatch.delenv(name, raising=False)
    return cache_dir


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIFactory]:
    """``fake_openai(responder=None, latency=0.0, **kw)`` -> a started FakeOpenAI.

    Extra keywords go to ``FakeOpenAI`` (``api_key=``, ``models=``). Every server started
    through the factory is stopped at teardown.
    """
    servers: list[FakeOpenAI] = []

    def start(responder: Responder | None = None, latency: float = 0.0, **kw: Any) -> FakeOpenAI:
        server = FakeOpenAI(responder, latency=latency, **kw).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def teacher_settings() -> Callable[..., TeacherSettings]:
    """``teacher_settings(server, **overrides)`` -> TeacherSettings for a FakeOpenAI server.

    Defaults suit tests: the server's model and key, http_retries=1, timeout_s=10.
    """

    def make(server: FakeOpenAI, **overrides: Any) -> TeacherSettings:
        values: dict[str, Any] = {
            "base_url": server.base_url,
            "model": server.model,
            "api_key": server.api_key,
            "http_retries": 1,
            "timeout_s": 10.0,
        }
        values.update(overrides)
        return TeacherSettings(**values)

    return make
