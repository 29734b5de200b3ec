"""--quote-errors: hard generator calls quote the student's mistakes, new texts that nearly
repeat a quoted text or an earlier sample are dropped, and the gold teacher's follow mode
answers a request with the train texts most like what it quotes (bench/gold_teacher.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.gold_teacher import GoldTeacher, WordSimilarity
from evokd.agents.generator import GeneratorRequest, request_messages
from evokd.core.cli import quote_count
from evokd.graph.config import AUTO_QUOTES, RunConfig
from evokd.graph.targeting import QuotePicker, about
from evokd.samples.rules import RuleCritic, normalise, text_key
from evokd.tasks import load_task_data, resolve_task
from fakes.data import read_jsonl
from tests.loop_runs import GoldLoop

PER = {"text": "Smith", "type": "PER"}


def _ner(text: str, gold: list[dict[str, str]], predicted: list[dict[str, str]]) -> dict:
    return {"text": text, "gold": gold, "predicted": predicted}


def test_auto_quotes_on_a_tagging_loop_that_writes_with_full_prompts_only() -> None:
    def per_call(kind: str = "ner", **settings: object) -> int:
        return RunConfig(task="conll03", **settings).quotes_per_call(kind)

    assert quote_count("auto") is None and quote_count("3") == 3
    assert per_call() == AUTO_QUOTES > 0  # the default: auto
    assert per_call("cls") == 0  # classification: quoting has not paid
    assert per_call(prompts="compact") == 0  # the embedded teacher's preset
    assert per_call(strategy="static") == 0  # no feedback, no mistakes to quote
    assert per_call(pool="train") == 0  # picked texts are not written
    assert per_call(quote_errors=0) == 0 and per_call("cls", quote_errors=2) == 2


def test_a_mistake_is_about_the_labels_it_gets_wrong() -> None:
    mistyped = _ner("Smith won .", [PER], [{"text": "Smith", "type": "ORG"}])
    assert about("ner", mistyped, "PER") and about("ner", mistyped, "ORG")
    assert not about("ner", mistyped, "LOC")
    found = _ner("Smith and Paris .", [PER, {"text": "Paris", "type": "LOC"}], [PER])
    assert about("ner", found, "LOC") and not about("ner", found, "PER")
    assert about("cls", {"text": "t", "gold": "pos", "predicted": "neg"}, "pos")
    assert not about("cls", {"text": "t", "gold": "pos", "predicted": "neg"}, "neg")


def test_mistakes_are_shared_out_each_once_before_twice_and_fresh_ones_first() -> None:
    mistakes = [{"text": f"text {i}", "gold": "pos" if i < 3 else "neg", "predicted": "x"}
                for i in range(5)]
    picker = QuotePicker("cls", mistakes, quoted_before=["text 0"])
    first = picker.take("pos", 2)
    assert [m["text"] for m in first] == ["text 1", "text 2"]  # text 0 was quoted before
    assert [m["text"] for m in picker.take("pos", 2)] == ["text 0", "text 1"]
    assert all(m["gold"] == "neg" for m in picker.take("neg", 5))  # only texts of the label
    # NER: the call's label first, then other mistakes rather than none
    ner = QuotePicker("ner", [_ner("a b", [PER], []), _ner("c d", [], [PER]),
                              _ner("e f", [{"text": "e", "type": "LOC"}], [])], [])
    assert [m["text"] for m in ner.take("LOC", 2)] == ["e f", "a b"]


def test_a_near_copy_of_a_quoted_text_or_an_earlier_sample_is_dropped_with_its_reason(
) -> None:
    spec = resolve_task("conll03", Path("unused"))
    critic = RuleCritic(spec, near=["Manchester United beat Chelsea 2-1 at Old Trafford on "
                                    "Saturday ."])
    near = critic.check_text("Manchester United beat Chelsea 3-1 at Old Trafford on Saturday .")
    assert near is not None and near[0] == "near_duplicate"
    assert "quoted mistake or an earlier sample" in near[1]
    assert critic.check_text("Arsenal drew with Leeds in a rainy match in London .") is None
    assert RuleCritic(spec).check_text(
        "Manchester United beat Chelsea 3-1 at Old Trafford on Saturday .") is None


def test_a_hard_request_shows_its_quoted_mistakes_and_asks_for_the_same_difficulty() -> None:
    spec = resolve_task("conll03", Path("unused"))
    mistake = _ner("Jordan signed for Chicago .", [PER, {"text": "Chicago", "type": "ORG"}],
                   [{"text": "Chicago", "type": "LOC"}])
    quoting = GeneratorRequest(stance="hard", n=2, round_no=2, target=["ORG"],
                               quotes=[mistake])
    user = request_messages("generator_ner", spec, quoting)[0][-1]["content"]
    block = re.search(r'<mistake index="0">(.*?)</mistake>', user)
    assert block is not None
    assert json.loads(block.group(1)) == {"text": "Jordan signed for Chicago .",
                                          "correct": mistake["gold"],
                                          "student predicted": mistake["predicted"]}
    assert "same difficulty as that mistake" in user
    plain = request_messages("generator_ner", spec, GeneratorRequest(
        stance="hard", n=2, round_no=2, target=["ORG"]))[0][-1]["content"]
    assert "<mistake" not in plain and "same difficulty" not in plain


def test_the_gold_teacher_follows_what_a_request_quotes(tiny_data: Path, tmp_path: Path) -> None:
    spec = resolve_task("conll03", tiny_data)
    data = load_task_data(spec)
    log = tmp_path / "follow.jsonl"
    teacher = GoldTeacher(spec, data.train, [], follow=True, follow_log=log)
    quote = spec.example_text(data.train[3])
    request = GeneratorRequest(stance="hard", n=1, round_no=1, target=list(spec.labels),
                               quotes=[{"text": quote, "gold": [], "predicted": []}])
    messages = request_messages("generator_ner", spec, request)[0]
    answer = json.loads(teacher({"messages": messages}))["texts"]
    record, = read_jsonl(log)
    assert record["source"] == "mistake" and record["quote"] == quote
    assert answer == [record["text"]] and record["similarity"] > 0
    # it is the train text most like the quote, by the similarity it logs
    similar = WordSimilarity([spec.example_text(ex) for ex in teacher.pool])
    scores = [similar.nearest(quote, {i})[1] for i in range(len(teacher.pool))]
    assert record["similarity"] == round(max(scores), 4)
    # a request without quotes or examples gets texts at random, and logs nothing
    teacher({"messages": request_messages("generator_ner", spec, GeneratorRequest(
        stance="plain", n=2, round_no=1))[0]})
    assert len(read_jsonl(log)) == 1


def test_a_loop_with_quoted_mistakes_quotes_them_and_the_teacher_follows(
    tmp_path: Path, gold_loop: GoldLoop
) -> None:
    log = tmp_path / "follow.jsonl"
    server, run_dir = gold_loop("--quote-errors", "2", follow_log=str(log))

    hard = [r["messages"][-1]["content"] for r in server.requests
            if "HARD sentences" in r["messages"][-1]["content"]]
    quoted = [json.loads(body)["text"] for text in hard
              for body in re.findall(r'<mistake index="\d+">(.*?)</mistake>', text)]
    assert quoted, "hard calls quote the student's mistakes"
    assert all(len(re.findall("<mistake ", text)) <= 2 for text in hard)  # --quote-errors 2
    follows = read_jsonl(log)
    assert {r["source"] for r in follows} >= {"mistake", "example"}  # easy calls show seeds
    synthetic = read_jsonl(run_dir / "synthetic.jsonl")
    by_round = {r: {text_key(" ".join(s["tokens"])) for s in synthetic if s["round"] == r}
                for r in (1, 2)}
    quoted_keys = {text_key(t) for t in quoted}
    assert quoted_keys & by_round[1], "round 2 quotes the mistakes on round 1's batch"
    assert not quoted_keys & by_round[2], "no quoted text comes back as a sample"
    assert all(normalise(r["quote"]) != normalise(r["text"]) for r in follows)
