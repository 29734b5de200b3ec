"""The dry run's teacher: the real teacher client (budget, validation and its retries, token
ledger, ``llm_call`` events) with its endpoint replaced by a recorder. Every request is
answered with a plausible reply valid for the schema asked, built from the task's own train
split, and its prompt and completion tokens are counted as an endpoint would report them."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from evokd.agents.analyst import Analysis
from evokd.agents.critic import Verdicts
from evokd.agents.generator import ClsSamples, NerSamples, Text, Texts
from evokd.agents.labeler import ClsLabel, NerLabels
from evokd.samples.align import entities_from_tags
from evokd.samples.drops import MAX_WORDS
from evokd.samples.rules import text_key
from evokd.tasks.spec import Example, TaskSpec
from evokd.teacher import TeacherClient, TeacherSettings
from evokd.teacher.transport import schema_name

_COUNT = re.compile(r"\bWrite (?:and \w+ )?(\d+)\b")  # generator: how many texts
_VERDICTS = re.compile(r"Samples \((\d+)")  # critic: how many verdicts
_SAMPLE = re.compile(r"<sample>(.*?)</sample>", re.S)  # labeler: the text to label
FILLER = ("Earlier rounds improved the student on frequent labels; keep writing varied texts "
          "for the weak labels.")


class StandInReplies:
    """Plausible replies for the loop's roles: texts the task's train split holds (each served
    once, in a seeded order; NER texts with at least one entity), their gold labels, every
    sample accepted, a short analysis; for another role's schema a sentence in every text
    field."""

    def __init__(self, spec: TaskSpec, train: Sequence[Example], seed_set: Sequence[Example],
                 seed: int) -> None:
        self.spec = spec
        taken = {text_key(spec.example_text(ex)) for ex in seed_set}
        fits = [ex for ex in train if text_key(spec.example_text(ex)) not in taken
                and 3 <= len(spec.example_text(ex).split()) <= MAX_WORDS[spec.kind]]
        rich = [ex for ex in fits if self._labels(ex)]
        self.texts = rich or fits or list(seed_set)
        random.Random(seed).shuffle(self.texts)
        self.gold = {text_key(spec.example_text(ex)): ex for ex in self.texts}
        self._next = 0

    def reply(self, messages: list[dict[str, str]], schema: type[BaseModel]) -> dict[str, Any]:
        """A reply to ``messages`` that validates against ``schema``."""
        user = "\n".join(m["content"] for m in messages if m["role"] == "user")
        if schema is Analysis:
            labels = list(self.spec.labels)
            return {"summary": f"The student misses many {labels[0]} labels and confuses "
                    "similar ones; it finds frequent, clearly marked cases.",
                    "weak_labels": labels[:1],
                    "patterns": ["names at the start of a sentence", "multi-word names"]}
        if schema is Texts:
            return {"texts": [self.spec.example_text(ex) for ex in self._serve(_count(user))]}
        if schema is Text:
            return {"text": self.spec.example_text(self._serve(1)[0])}
        if schema in (NerSamples, ClsSamples):
            return {"samples": [self._annotation(ex) for ex in self._serve(_count(user))]}
        if schema in (NerLabels, ClsLabel):
            blocks = _SAMPLE.findall(user)
            text = blocks[-1].replace("&lt;", "<").strip() if blocks else ""
            annotation = self._annotation(self.gold.get(text_key(text)), text)
            return {"label": annotation["label"]} if schema is ClsLabel else annotation
        if schema is Verdicts:
            found = _VERDICTS.search(user)
            return {"verdicts": [{"index": i, "ok": True, "reason": ""}
                                 for i in range(int(found.group(1)) if found else 1)]}
        return filled(schema)

    def _serve(self, n: int) -> list[Example]:
        """The next ``n`` texts (from the start again once all were served)."""
        chosen = [self.texts[(self._next + i) % len(self.texts)] for i in range(max(1, n))]
        self._next += len(chosen)
        return chosen

    def _labels(self, example: Example) -> list[str]:
        if self.spec.kind == "cls":
            return [example["label"]]
        return [e["type"] for e in entities_from_tags(example["tokens"], example["tags"])]

    def _annotation(self, example: Example | None, text: str = "") -> dict[str, Any]:
        """The gold annotation of ``example`` as a labeller writes it (no entities, or the
        first label, for a text the train split does not hold)."""
        text = self.spec.example_text(example) if example is not None else text
        if self.spec.kind == "cls":
            label = example["label"] if example is not None else self.spec.labels[0]
            return {"text": text, "label": label}
        entities = (entities_from_tags(example["tokens"], example["tags"])
                    if example is not None else [])
        return {"sentence": text, "entities": entities}


def _count(user: str) -> int:
    found = _COUNT.search(user)
    return int(found.group(1)) if found else 1


def filled(schema: type[BaseModel]) -> dict[str, Any]:
    """A reply for a schema the loop's core roles do not use (an optional role's): a sentence
    in every text field, two in every list of texts, other fields at their defaults."""
    reply: dict[str, Any] = {}
    for name, field in schema.model_fields.items():
        if field.annotation is str:
            reply[name] = FILLER
        elif field.annotation == list[str]:
            reply[name] = [FILLER, FILLER]
    return reply


class RecordingTeacher(TeacherClient):
    """A teacher client whose endpoint is ``replies``: nothing leaves the process. Tokens are
    ``count`` of the messages' text (joined by newlines) plus, where the schema travels beside
    the messages (json_schema, function calling), of that schema; completion tokens are
    ``count`` of the reply's JSON."""

    def __init__(self, settings: TeacherSettings, replies: StandInReplies,
                 count: Callable[[str], int]) -> None:
        super().__init__(settings)
        self.replies, self.count = replies, count

    async def complete(self, role: str, convo: list[dict[str, str]], schema: type[BaseModel],
                       kwargs: dict[str, Any]) -> BaseMessage:
        """Answer one request (see the class docstring)."""
        reply = self.replies.reply(convo, schema)
        raw = json.dumps(reply, ensure_ascii=False)
        prompt = "\n".join(m["content"] for m in convo)
        if self.settings.structured_method != "json_object":
            beside = {key: kwargs[key] for key in ("response_format", "tools") if key in kwargs}
            prompt += json.dumps(beside, ensure_ascii=False)
        tokens = {"input_tokens": self.count(prompt), "output_tokens": self.count(raw)}
        usage = {**tokens, "total_tokens": sum(tokens.values())}
        if self.settings.structured_method == "function_calling":
            call = {"name": schema_name(schema), "args": reply, "id": "call_0"}
            return AIMessage(content="", tool_calls=[call], usage_metadata=usage,
                             response_metadata={"finish_reason": "tool_calls"})
        return AIMessage(content=raw, usage_metadata=usage,
                         response_metadata={"finish_reason": "stop"})
