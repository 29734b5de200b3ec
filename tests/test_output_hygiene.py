"""What a run's texts can do to a terminal or a browser: escape codes in LLM text are shown,
not obeyed, by ``main.py trace``; ``main.py view`` answers only 127.0.0.1 and localhost."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from evokd import main
from evokd.core.cli import visible
from evokd.inspection.timeline import render_timeline
from evokd.inspection.viewer import make_app
from fakes.run_dir import write_fake_run

# clear screen, a hyperlink, a bell, a carriage return over a fake line, a C1 CSI, and a
# right-to-left override
ESCAPES = ("\x1b[2J\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07\rFAKE ok line"
           "\x9b31m\u202egnp.exe")
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def _run_with_escapes(path: Path) -> Path:
    run_dir = write_fake_run(path)
    trace = run_dir / "trace.jsonl"
    text = trace.read_text(encoding="utf-8")
    assert "Misses names." in text and "raw reply " in text
    escaped = json.dumps(ESCAPES)[1:-1]
    trace.write_text(text.replace("Misses names.", escaped).replace("raw reply ", escaped),
                     encoding="utf-8")
    return run_dir


def test_visible_writes_control_characters_out() -> None:
    assert visible("a\x1b[2Jb\tc\u202ed") == "a\\x1b[2Jb\\tc\\u202ed"
    assert visible("Ünïcode stays, – so do dashes") == "Ünïcode stays, – so do dashes"


def test_trace_shows_escape_codes_from_llm_text_instead_of_sending_them(
    tmp_path: Path, capsys
) -> None:
    run_dir = _run_with_escapes(tmp_path / "run")
    text = render_timeline(run_dir, width=400)
    assert "\\x1b[2J" in text and "FAKE ok line" in text
    assert not any(code in text for code in RAW), [c for c in RAW if c in text]

    assert main.main(["trace", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "\\x1b]8;;http://evil.example/\\x07click" in out
    assert not any(code in out for code in RAW), [c for c in RAW if c in out]


async def test_view_refuses_a_host_other_than_this_machine(tmp_path: Path) -> None:
    run_dir = write_fake_run(tmp_path / "run")
    client = TestClient(TestServer(make_app(run_dir), host="127.0.0.1"))
    await client.start_server()
    try:
        port = client.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            response = await client.get("/", headers={"Host": host})
            assert response.status == 200, host
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example",
                     "localhost.evil.example:80", "[::ffff:1.2.3.4]", ""):
            for path in ("/", "/files/report.html"):
                response = await client.get(path, headers={"Host": host})
                assert response.status == 421, (host, path)
                assert "Anna Berg" not in await response.text()
    finally:
        await client.close()
