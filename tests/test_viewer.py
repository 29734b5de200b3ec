"""``main.py view RUN_DIR``: the page (escaping, rounds, graph, report) and the server, checked
in headless Chromium (skipped only when no chromium binary is installed)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from evokd import main
from evokd.inspection.viewer import render_page
from fakes.run_dir import INJECTED, write_fake_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def test_page_escapes_llm_text_and_shows_every_round(tmp_path: Path) -> None:
    page = render_page(write_fake_run(tmp_path / "run"))
    assert INJECTED not in page and '<b id="injected">' not in page and "<script>" not in page
    assert "&lt;b id=&#34;injected&#34;&gt;" in page
    for number in (0, 1, 2):
        assert f'id="round-{number}"' in page
    assert 'id="node-reviewer"' in page and "<svg" in page and "mermaid.ink" not in page
    assert "Reviewer&#39;s memo on rounds 1 to 1" in page
    assert ('<span class="teacher-engine">local teacher: 12 requests in 3 batches; prompts 6,000 '
            "tokens, 1,500 of them computed") in page
    assert '<mark class="ent">Anna Berg<sub>PER</sub></mark>' in page
    assert 'href="/files/report.html"' in page and 'src="/files/plots/f1.png"' in page
    assert '<iframe class="report" src="/files/report.html" sandbox' in page
    assert "http://" not in page and "https://" not in page, "nothing loaded from the network"


def test_page_without_report_or_rounds(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"task": "sst2"}')
    page = render_page(run_dir)
    assert "No rounds recorded yet" in page and "/files/" not in page


def test_view_of_a_bad_run_dir_or_port_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["view", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no such run directory" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main.main(["view", str(write_fake_run(tmp_path / "run")), "--port",
                          str(port)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"port {port}" in err


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed")
def test_served_page_in_headless_chromium(tmp_path: Path) -> None:
    run_dir = write_fake_run(tmp_path / "run")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "main.py", "view", str(run_dir)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "http://127.0.0.1:" in line, line + (server.stderr.read() if server.stderr else "")
        url = line.split()[2]
        assert _get(url + "files/plots/f1.png") == 200
        assert _get(url + "files/report.html") == 200
        for hidden in ("files/config.json", "files/trace.jsonl", "files/../../etc/passwd",
                       "files/%2e%2e/%2e%2e/etc/passwd"):
            assert _get(url + hidden) == 404, hidden
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        ).stdout
        assert "evokd run" in dom, dom[:500]
        for number in (0, 1, 2):
            assert f'id="round-{number}"' in dom
        assert "Round 2" in dom and "Misses names." in dom and "Duplicate sentence" in dom
        assert '<b id="injected">' not in dom and "<script>" not in dom  # shown as text
        assert '&lt;b id="injected"&gt;' in dom and "<title>evokd run" in dom  # not "pwned"
        assert 'id="node-reviewer"' in dom and "<svg" in dom
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0
