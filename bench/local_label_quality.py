"""How well the embedded teacher labels text: for NER, entity-level P/R/F1 (seqeval) of the
labeler's labels against the gold labels of dev sentences; for classification, accuracy and
macro-F1 against the gold labels of dev texts; with the completion tokens and seconds they
cost, for each ``--models`` model.

The call is the labeler's own (``agents.labeler``) with the local preset's compact reply cap
and scope, ``--concurrency`` calls in flight. NER sentences are dev sentences of 6 to 30 words
with at least one entity (generated texts are such sentences); classification texts are dev
texts of at most 80 words (the generator's cap); both drawn with ``--seed``. The seed examples
shown are the run's k-shot draw for that seed. The test split is not read.

    python bench/local_label_quality.py [--task conll03|sst2|TASK_FILE] [--sentences 48] \
        [--seed 1] [--models qwen2.5-coder-0.5b] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evokd.agents.labeler import (  # noqa: E402
    Scope,
    label,
    label_messages,
    label_ner,
    names_capitalised,
)
from evokd.samples.align import entities_from_tags  # noqa: E402
from evokd.samples.drops import MAX_WORDS, word_count  # noqa: E402
from evokd.student.metrics import cls_scores, ner_scores  # noqa: E402
from evokd.tasks import load_task_data, resolve_data_dir, resolve_task  # noqa: E402
from evokd.tasks.sampler import seed_examples  # noqa: E402
from evokd.tasks.spec import Example, TaskSpec  # noqa: E402
from evokd.teacher import LLMReplyError, TeacherClient, TeacherSettings  # noqa: E402
from evokd.teacher.local import DEFAULT_MODEL, LocalTeacher  # noqa: E402


def pick_sentences(dev: list[Example], n: int, seed: int) -> list[Example]:
    """``n`` dev sentences of 6-30 words with at least one entity."""
    fit = [ex for ex in dev if 6 <= len(ex["tokens"]) <= 30
           and entities_from_tags(ex["tokens"], ex["tags"])]
    return random.Random(seed).sample(fit, min(n, len(fit)))


async def label_all(client: TeacherClient, task: TaskSpec, sentences: list[Example],
                    seeds: list[Example]) -> tuple[list[list[str]], int]:
    """Predicted tags of every sentence (all ``O`` where the reply failed) and failures."""
    scope = Scope(task, names_capitalised(seeds), compact=True)

    async def one(example: Example) -> list[str] | None:
        tokens = list(example["tokens"])
        messages = label_messages(task, " ".join(tokens), seeds)
        try:
            done = await label_ner(client, task, messages, tokens, scope, round_no=1,
                                   temperature=0.0)
        except LLMReplyError:
            return None
        return done["tags"]

    tags = await asyncio.gather(*(one(ex) for ex in sentences))
    failed = sum(t is None for t in tags)
    return [t or ["O"] * len(ex["tokens"]) for t, ex in zip(tags, sentences, strict=True)], failed


def pick_texts(dev: list[Example], n: int, seed: int) -> list[Example]:
    """``n`` classification dev texts of at most ``MAX_WORDS["cls"]`` words."""
    fit = [ex for ex in dev if word_count(ex["text"]) <= MAX_WORDS["cls"]]
    return random.Random(seed).sample(fit, min(n, len(fit)))


async def label_texts(client: TeacherClient, task: TaskSpec, texts: list[Example],
                      seeds: list[Example]) -> tuple[list[str], int]:
    """Predicted label of every text ("" where the reply failed: counted wrong) and
    failures."""
    async def one(example: Example) -> str:
        done, _ = await label(client, task, {"text": example["text"]}, round_no=1,
                              seeds=seeds, temperature=0.0, compact=True)
        return done[0]["label"] if done else ""

    labels = await asyncio.gather(*(one(ex) for ex in texts))
    return list(labels), sum(not lb for lb in labels)


async def main_async(args: argparse.Namespace) -> None:
    task = resolve_task(args.task, resolve_data_dir(args.data_dir))
    data = load_task_data(task)
    seeds = seed_examples(task, data, 1, args.seed)
    ner = task.kind == "ner"
    sentences = (pick_sentences if ner else pick_texts)(data.dev, args.sentences, args.seed)
    gold = [list(ex["tags"]) if ner else ex["label"] for ex in sentences]
    print(f"{len(sentences)} dev {'sentences' if ner else 'texts'} of {args.task}, "
          f"{len(seeds)} seed examples, "
          f"{args.concurrency} in flight")
    for name in args.models:
        async with LocalTeacher(name, device="cpu") as local:
            settings = TeacherSettings(base_url=local.base_url, model=local.model_name,
                                       api_key="unused", max_concurrency=args.concurrency,
                                       structured_method="json_schema", timeout_s=900.0,
                                       seed=args.seed)
            async with TeacherClient(settings) as client:
                started = time.perf_counter()
                if ner:
                    predicted, failed = await label_all(client, task, sentences, seeds)
                    scores = ner_scores(gold, predicted)
                    quality = (f"P {scores['precision']:.3f} R {scores['recall']:.3f} "
                               f"F1 {scores['f1']:.3f}")
                else:
                    labels, failed = await label_texts(client, task, sentences, seeds)
                    scores = cls_scores(gold, labels, list(task.labels))
                    quality = (f"accuracy {scores['accuracy']:.3f} macro-F1 {scores['f1']:.3f} "
                               "(per label F1 " + ", ".join(
                                   f"{lb} {row['f1']:.3f}"
                                   for lb, row in scores["per_label"].items()) + ")")
                seconds = time.perf_counter() - started
                print(f"{name}: {quality}  failed replies {failed}  completion tokens "
                      f"{client.ledger.completion_tokens}  prompt tokens "
                      f"{client.ledger.prompt_tokens}  {seconds:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="conll03")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--sentences", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
