"""A perfect teacher for measurement: real train texts for the generator, gold labels for the
labeler, every sample accepted by the critic, and an analyst that counts the student's errors.

It answers through the fake OpenAI server (``bench/fake_server.py --responder gold``), which
speaks every structured-output method a real server does (json_object, json_schema, function
calling). The generator's request names the labels it wants (NER: the entity types of the
stance; classification: the intended label); the reply is ``n`` texts from the task's *train*
split that are not in the run's seed set, not served before, and hold one of those labels where
any is left. The labeler gets the gold annotation of a text it served (an unknown text gets no
entities, or the first label). Choice is seeded by a hash of the request, so equal requests get
equal texts, as a seeded LLM would give.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

from evokd.agents.analyst import weak_labels_from_errors
from evokd.samples.align import entities_from_tags
from evokd.samples.drops import MAX_WORDS
from evokd.samples.rules import text_key
from evokd.tasks import load_task_data, resolve_data_dir, resolve_task
from evokd.tasks.sampler import seed_examples
from evokd.tasks.spec import Example, TaskSpec

_BLOCK = re.compile(r"<(sample|text)(?: index=\"\d+\")?>(.*?)</\1>", re.S)
_WRONG = re.compile(r"got WRONG.*?:\n(.*?)\n\s*Samples the student got RIGHT", re.S)
_NER_TYPES = re.compile(r"entit(?:y|ies) of the type\(s\) ([^\n]*?)(?: in the tricky| used|$)",
                        re.M)
_CLS_LABEL = re.compile(r'belong to the label "([^"]+)"')
_COUNT = re.compile(r"Write (\d+)")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").strip()


def _labels(task: TaskSpec, example: Example) -> set[str]:
    if task.kind == "cls":
        return {example["label"]}
    return {e["type"] for e in entities_from_tags(example["tokens"], example["tags"])}


class GoldTeacher:
    """Answers chat requests of the loop's roles from the task's gold train data."""

    def __init__(self, task: TaskSpec, train: list[Example], seeds: list[Example]) -> None:
        self.task = task
        taken = {text_key(task.example_text(s)) for s in seeds}
        limit = MAX_WORDS[task.kind]
        self.pool = [ex for ex in train if text_key(task.example_text(ex)) not in taken
                     and 3 <= len(task.example_text(ex).split()) <= limit]
        self.gold = {text_key(task.example_text(ex)): ex for ex in self.pool}
        self.served: set[int] = set()

    @classmethod
    def for_run(cls, task: str, data_dir: str | None, k_shot: int, seed: int) -> GoldTeacher:
        """The gold teacher of a run with these task, data dir, ``--k-shot`` and ``--seed``."""
        spec = resolve_task(task, resolve_data_dir(data_dir))
        data = load_task_data(spec)
        return cls(spec, data.train, seed_examples(spec, data, k_shot, seed))

    def __call__(self, request: dict[str, Any]) -> str:
        """The reply content for one chat request."""
        system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
        user = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
        digest = int(hashlib.sha256(json.dumps(request["messages"]).encode()).hexdigest(), 16)
        if "You are the reviewer" in system:
            return json.dumps({"memo": "", "lessons": []})
        if "You are the analyst" in system:
            return json.dumps(self._analysis(user))
        if "You write training" in system:
            return json.dumps({"texts": self._texts(user, digest)})
        if "quality checker" in system:
            n = int(re.search(r"Samples \((\d+)", user).group(1))
            return json.dumps({"verdicts": [{"index": i, "ok": True, "reason": ""}
                                            for i in range(n)]})
        if "annotator" in system:
            return json.dumps(self._annotation(_unescape(_BLOCK.findall(user)[-1][1])))
        return "{}"

    def _analysis(self, user: str) -> dict[str, Any]:
        block = _WRONG.search(user)
        wrong = [json.loads(_unescape(body)) for _, body in _BLOCK.findall(block.group(1))
                 ] if block else []
        weak = weak_labels_from_errors(self.task, wrong)[:2]
        return {"summary": f"The student errs most on {', '.join(weak) or 'nothing'}.",
                "weak_labels": weak, "patterns": []}

    def _wanted(self, user: str) -> set[str]:
        if self.task.kind == "cls":
            found = _CLS_LABEL.search(user)
            return {found.group(1)} if found else set(self.task.labels)
        found = _NER_TYPES.search(user)
        named = {part.strip(" .") for part in found.group(1).split(",")} if found else set()
        return (named & set(self.task.labels)) or set(self.task.labels)

    def _texts(self, user: str, digest: int) -> list[str]:
        count = _COUNT.search(user)
        n = int(count.group(1)) if count else 4
        wanted = self._wanted(user)
        rng = random.Random(digest)
        fresh = [i for i in range(len(self.pool)) if i not in self.served]
        holding = [i for i in fresh if _labels(self.task, self.pool[i]) & wanted]
        if self.task.kind == "cls":  # a text of another label would be a wrong sample
            chosen = rng.sample(holding, min(n, len(holding)))
        else:
            chosen = rng.sample(holding or fresh, min(n, len(holding or fresh)))
        self.served.update(chosen)
        return [self.task.example_text(self.pool[i]) for i in chosen]

    def _annotation(self, text: str) -> dict[str, Any]:
        example = self.gold.get(text_key(text))
        if self.task.kind == "cls":
            return {"label": example["label"] if example else self.task.labels[0]}
        entities = (entities_from_tags(example["tokens"], example["tags"]) if example else [])
        return {"sentence": text, "entities": entities}
