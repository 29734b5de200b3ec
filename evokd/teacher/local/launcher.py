"""``LocalTeacher``: start the local teacher server in a subprocess and stop it again.

    with LocalTeacher("qwen2.5-coder-0.5b") as teacher:
        llm = ChatOpenAI(base_url=teacher.base_url, api_key="unused", model=teacher.model_name)

``async with LocalTeacher(...)`` works the same from async code (start/stop run in a thread).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

from evokd.teacher.local.models import DEFAULT_MODEL, ResolvedModel, resolve_model

_PROJECT_ROOT = Path(__file__).resolve().parents[3]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalTeacherError(RuntimeError):
    """The local teacher server could not be started (message includes its last log lines)."""


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    # drop progress-bar carriage-return noise, keep the last lines
    kept = [ln.rsplit("\r", 1)[-1] for ln in text.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:]) or "(server log is empty)"


def _stop_process(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class LocalTeacher:
    """The embedded offline teacher: an OpenAI-compatible server on 127.0.0.1 in a subprocess.

    ``model``: a name from ``MODELS`` or a .gguf path; ``engine``: auto | transformers |
    llama_cpp; ``port``: 0 = any free port; ``threads``/``context``/``device``: engine settings
    (``device`` auto: a CUDA GPU when there is one);
    ``startup_timeout``: seconds to wait for ``/health`` (a cold GGUF load of the 0.5B model
    takes 1-2 minutes, later starts seconds); ``stop_grace``: seconds between terminate and
    kill; ``weights_cache``: keep dequantised weights on disk; ``cache_dir``: root for the model
    caches instead of ``$EVOKD_CACHE_DIR`` / ``~/.cache/evokd``.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        engine: str = "auto",
        port: int = 0,
        threads: int | None = None,
        context: int | None = None,
        device: str = "auto",
        startup_timeout: float = 900.0,
        stop_grace: float = 10.0,
        weights_cache: bool = True,
        cache_dir: str | Path | None = None,
        python: str | None = None,
    ) -> None:
        self.model = model
        self.engine = engine
        self.requested_port = port
        self.threads = threads
        self.context = context
        self.device = device
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.weights_cache = weights_cache
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.python = python or sys.executable
        self.resolved: ResolvedModel | None = None
        self.port: int | None = None
        self._info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._finalizer: weakref.finalize | None = None

    # -- public surface ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (only while running)."""
        if self.port is None:
            raise LocalTeacherError("the local teacher is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model_name(self) -> str:
        """The served model's name (what to pass as ``model=``)."""
        return self.resolved.name if self.resolved else self.model

    @property
    def running(self) -> bool:
        """True while the server subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The server's combined stdout/stderr log (deleted on stop)."""
        return self._workdir / "server.log" if self._workdir else None

    def describe(self) -> dict[str, Any]:
        """Facts for config.json: kind, engine, model name, file, sha256, threads, device,
        dtype, weight layout, rows decoded together, base_url."""
        facts: dict[str, Any] = {"kind": "local", "model": self.model_name,
                                 "engine": self._info.get("engine", self.engine)}
        if self.resolved is not None:
            facts.update(self.resolved.describe())
        for key in ("threads", "context", "device", "dtype", "weight_layout", "max_batch",
                    "load_seconds", "loaded_from", "constrained_json"):
            if key in self._info:
                facts[key] = self._info[key]
        if self.port is not None:
            facts["base_url"] = self.base_url
        return facts

    def counters(self) -> dict[str, Any]:
        """The server's ``/health`` facts as of now (requests served, batches, what the prompt
        prefills cost); empty when it is not running or does not answer."""
        return (self._health(timeout=5) or {}) if self.running else {}

    def start(self) -> LocalTeacher:
        """Resolve the model, start the server and wait until ``/health`` answers."""
        if self.running:
            return self
        models_dir = self.cache_dir / "models" if self.cache_dir is not None else None
        self.resolved = resolve_model(self.model, models_dir)  # fails fast with the pip command
        self._workdir = Path(tempfile.mkdtemp(prefix="evokd-teacher-"))
        ready = self._workdir / "ready.json"
        log_path = self._workdir / "server.log"
        cmd = [self.python, "-m", "evokd.teacher.local", "serve", "--model", str(self.resolved.path)
               if self.resolved.source == "file" else self.resolved.name,
               "--port", str(self.requested_port), "--engine", self.engine, "--device", self.device,
               "--ready-file", str(ready), "--parent-pid", str(os.getpid())]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        if self.context:
            cmd += ["--context", str(self.context)]
        if not self.weights_cache:
            cmd.append("--no-weights-cache")
        with log_path.open("wb") as log_file:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file,
                                          stderr=subprocess.STDOUT, env=self._env())
        self._finalizer = weakref.finalize(self, _cleanup, self._proc, self._workdir,
                                           self.stop_grace)
        try:
            self._wait_ready(ready, log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server (kill after ``stop_grace`` seconds); safe to call twice."""
        if self._finalizer is not None:
            self._finalizer()  # runs _cleanup once
            self._finalizer = None
        self._proc, self._workdir, self.port = None, None, None

    # -- context managers --------------------------------------------------------------------
    def __enter__(self) -> LocalTeacher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalTeacher:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)

    # -- internals ---------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), path) if p)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["PYTHONUNBUFFERED"] = "1"
        if self.cache_dir is not None:
            env["EVOKD_CACHE_DIR"] = str(self.cache_dir)
        return env

    def _wait_ready(self, ready: Path, log_path: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise LocalTeacherError(
                    f"local teacher ({self.model_name}) exited with status {code} while "
                    f"starting; last log lines:\n{_tail(log_path)}")
            if ready.is_file() and self.port is None:
                try:
                    self._info = json.loads(ready.read_text())
                    self.port = int(self._info["port"])
                except (OSError, ValueError, KeyError):
                    self.port = None  # half-written; read again
            if self._health(timeout=2) is not None:
                return
            time.sleep(0.2)
        raise LocalTeacherError(
            f"local teacher ({self.model_name}) did not become ready within "
            f"{self.startup_timeout:.0f}s; last log lines:\n{_tail(log_path)}")

    def _health(self, timeout: float) -> dict[str, Any] | None:
        """``/health``'s facts, or None while the server does not answer with them."""
        if self.port is None:
            return None
        try:
            with _NO_PROXY.open(f"http://127.0.0.1:{self.port}/health", timeout=timeout) as resp:
                facts = json.loads(resp.read()) if resp.status == 200 else None
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return facts if isinstance(facts, dict) else None


def _cleanup(proc: subprocess.Popen[bytes], workdir: Path, grace: float) -> None:
    _stop_process(proc, grace)
    shutil.rmtree(workdir, ignore_errors=True)
