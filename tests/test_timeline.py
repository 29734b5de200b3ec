"""``main.py trace RUN_DIR``: the terminal timeline, and run directories read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evokd import main
from evokd.inspection.mermaid import parse_mermaid, render_svg
from evokd.inspection.runlog import load_run
from evokd.inspection.samples import entity_segments
from evokd.inspection.timeline import render_timeline
from fakes.run_dir import INJECTED, SAMPLE, write_fake_run


def test_run_log_groups_events_by_round(tmp_path: Path) -> None:
    log = load_run(write_fake_run(tmp_path / "run"))
    assert [r.number for r in log.rounds] == [0, 1, 2]
    seed, first, second = log.rounds
    assert seed.feedback and seed.metrics and seed.metrics["dev_f1"] == 0.1
    assert not first.notes and second.notes["reviewer"]["round"] == 2
    assert second.roles["reviewer"].calls == 1 and "reviewer" not in first.roles
    assert first.roles["labeler"].failed == 1 and first.roles["generator"].cached == 1
    assert first.drop_reasons() == {"malformed_reply": 1, "duplicate": 1}
    assert [s["stance"] for s in first.samples] == ["easy", "hard"]
    assert log.stop_reason == "2 rounds done" and log.bad_lines == 1
    assert log.total_calls()["analyst"].calls == 2
    [engine] = log.teacher_engine  # the embedded teacher's counters, not a round's event
    assert (engine.served, engine.prompt_tokens, engine.computed_tokens) == (12, 6000, 1500)


def test_run_directories_from_before_role_plugins_read_the_same(tmp_path: Path) -> None:
    """Older runs wrote the memo as ``review_memo`` and the switch as ``"reviewer": true``."""
    run_dir = write_fake_run(tmp_path / "run")
    lines = []
    for line in (run_dir / "trace.jsonl").read_text(encoding="utf-8").splitlines():
        if '"notes"' in line:
            event = json.loads(line)
            event["review_memo"] = event.pop("notes")["reviewer"]
            line = json.dumps(event)
        lines.append(line)
    (run_dir / "trace.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    del config["roles"]
    (run_dir / "config.json").write_text(json.dumps({**config, "reviewer": True}),
                                         encoding="utf-8")
    assert load_run(run_dir).rounds[2].notes["reviewer"]["round"] == 2
    text = render_timeline(run_dir)
    assert "reviewer on" in text and "reviewer Reviewer's memo" in text


def test_entity_segments_join_bio_spans() -> None:
    assert entity_segments(SAMPLE) == [("Anna Berg", "PER"), ("of", None), ("Nordbank", "ORG"),
                                       ("met people in", None), ("Oslo", "LOC"), (".", None)]


def test_timeline_shows_each_round(tmp_path: Path) -> None:
    text = render_timeline(write_fake_run(tmp_path / "run"))
    assert "\x1b[" not in text, "no colour codes when not on a terminal"
    for needle in ("round 0 (seed student)", "round 1", "round 2", "reviewer Reviewer's memo",
                   "analysis Misses names.", "weak labels: PER", "dev F1 20.00",
                   "test F1 19.00", "drop reasons: duplicate 1, malformed_reply 1",
                   "- duplicate [critic] Duplicate sentence about Oslo .",
                   "student got 1 right, 1 wrong", "stopped 2 rounds done",
                   "local teacher 12 requests in 3 batches; prompts 6,000 tokens, 1,500 of them "
                   "computed (4.0x read per token computed), prefilled in 8 s: 750 prompt "
                   "tokens/s",
                   "1 unreadable line(s) skipped"):
        assert needle in text, needle
    assert INJECTED in text  # terminal text is shown as written (no markup interpretation)
    labeler = next(line for line in text.splitlines() if line.strip().startswith("labeler"))
    assert labeler.split()[1:4] == ["2", "0", "1"]  # calls, cached, failed


def test_trace_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_fake_run(tmp_path / "run")
    assert main.main(["trace", str(run_dir), "--max-drops", "1"]) == 0
    out = capsys.readouterr().out
    assert "round 2" in out and "… 1 more drops" in out


@pytest.mark.parametrize("make", ["missing", "file", "empty_dir"])
def test_trace_of_a_bad_run_dir_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str
) -> None:
    target = tmp_path / "x"
    if make == "file":
        target.write_text("hi")
    elif make == "empty_dir":
        target.mkdir()
    assert main.main(["trace", str(target)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and str(target) in err


def test_mermaid_svg_has_every_node_and_edge(tmp_path: Path) -> None:
    diagram = parse_mermaid((write_fake_run(tmp_path / "run") / "graph.mmd").read_text())
    assert {"train_seed", "reviewer", "analyst", "labeler", "__end__"} <= set(diagram.nodes)
    dashed = [e for e in diagram.edges if e.conditional]
    assert ("assess", "reviewer") in {(e.source, e.target) for e in dashed}
    svg = render_svg(diagram, badges={"analyst": "2 calls <x>"})
    assert all(f'id="node-{n}"' in svg for n in diagram.nodes)
    assert svg.count("<path class=") == len(diagram.edges)
    assert "2 calls &lt;x&gt;" in svg


def test_a_drop_reason_is_shown_whole(tmp_path: Path) -> None:
    """The reason is what a user reads to fix a run: it is not cut to a part of the width."""
    run_dir = write_fake_run(tmp_path / "run")
    detail = ("texts.0: Input should be a valid string (got {'text': 'Could you add a dark "
              "mode?', 'label': 'feature'}); write 1 new non-empty text")
    with (run_dir / "trace.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": "drop", "round": 1, "reason": "malformed_reply",
                                 "role": "generator", "detail": detail}) + "\n")
    text = render_timeline(run_dir, width=100, max_drops=10)
    assert detail in " ".join(text.split())
