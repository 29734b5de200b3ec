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

``follow=True`` makes the generator follow what a request shows: text i of the reply is the
train text (holding a requested label, not a seed, not served before) most like quote
``i mod q`` of the request, by cosine of idf-weighted word sets; the quotes are the student's
mistakes a hard request shows (``--quote-errors``), else its style examples (the seed set),
and a request that shows neither gets random texts as above. Each answer's similarity to its
quote goes to ``follow_log`` (JSONL), so a reader sees how much the teacher followed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from evokd.agents.analyst import weak_labels_from_errors
from evokd.samples.align import entities_from_tags
from evokd.samples.drops import MAX_WORDS
from evokd.samples.rules import normalise, text_key
from evokd.tasks import load_task_data, resolve_data_dir, resolve_task
from evokd.tasks.sampler import seed_examples
from evokd.tasks.spec import Example, TaskSpec

_BLOCK = re.compile(r"<(sample|text)(?: index=\"\d+\")?>(.*?)</\1>", re.S)
_WRONG = re.compile(r"got WRONG.*?:\n(.*?)\n\s*Samples the student got RIGHT", re.S)
_NER_TYPES = re.compile(r"entit(?:y|ies) of the type\(s\) ([^\n]*?)(?: in the tricky| used|$)",
                        re.M)
_CLS_LABEL = re.compile(r'belong to the label "([^"]+)"')
_COUNT = re.compile(r"Write (\d+)")
_QUOTES = {tag: re.compile(rf"<{tag} index=\"\d+\">(.*?)</{tag}>", re.S)
           for tag in ("mistake", "example")}


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").strip()


def _labels(task: TaskSpec, example: Example) -> set[str]:
    if task.kind == "cls":
        return {example["label"]}
    return {e["type"] for e in entities_from_tags(example["tokens"], example["tags"])}


class GoldTeacher:
    """Answers chat requests of the loop's roles from the task's gold train data."""

    def __init__(self, task: TaskSpec, train: list[Example], seeds: list[Example], *,
                 follow: bool = False, follow_log: Path | None = None) -> None:
        self.task = task
        taken = {text_key(task.example_text(s)) for s in seeds}
        limit = MAX_WORDS[task.kind]
        self.pool = [ex for ex in train if text_key(task.example_text(ex)) not in taken
                     and 3 <= len(task.example_text(ex).split()) <= limit]
        self.gold = {text_key(task.example_text(ex)): ex for ex in train}  # any text it labels
        self.served: set[int] = set()
        self.follow, self.follow_log = follow, follow_log
        self.similar = WordSimilarity([task.example_text(ex) for ex in self.pool]
                                      ) if follow else None

    @classmethod
    def for_run(cls, task: str, data_dir: str | None, k_shot: int, seed: int,
                follow_log: str | None = None) -> GoldTeacher:
        """The gold teacher of a run with these task, data dir, ``--k-shot`` and ``--seed``;
        with ``follow_log`` it follows what a request shows and logs there."""
        spec = resolve_task(task, resolve_data_dir(data_dir))
        data = load_task_data(spec)
        return cls(spec, data.train, seed_examples(spec, data, k_shot, seed),
                   follow=follow_log is not None,
                   follow_log=Path(follow_log) if follow_log else None)

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
        # classification: a text of another label would be a wrong sample
        candidates = holding if self.task.kind == "cls" else holding or fresh
        quotes, source = self._quotes(user) if self.follow else ([], "")
        if quotes:
            chosen = self._follow(quotes, source, candidates, n, rng)
        else:
            chosen = rng.sample(candidates, min(n, len(candidates)))
        self.served.update(chosen)
        return [self.task.example_text(self.pool[i]) for i in chosen]

    def _quotes(self, user: str) -> tuple[list[str], str]:
        """The texts a request shows: its quoted mistakes, else its style examples."""
        for source, pattern in _QUOTES.items():
            texts = [str(json.loads(_unescape(body)).get("text", ""))
                     for body in pattern.findall(user)]
            if texts := [t for t in texts if t.strip()]:
                return texts, source
        return [], ""

    def _follow(self, quotes: list[str], source: str, candidates: list[int], n: int,
                rng: random.Random) -> list[int]:
        """For text i, the candidate most like quote ``i mod len(quotes)`` (logged)."""
        assert self.similar is not None
        left = set(candidates)
        chosen: list[int] = []
        records = []
        for i in range(min(n, len(left))):
            quote = quotes[i % len(quotes)]
            best, score = self.similar.nearest(quote, left)
            if best is None:  # nothing shares a word with the quote
                best, score = rng.choice(sorted(left)), 0.0
            left.discard(best)
            chosen.append(best)
            records.append({"source": source, "similarity": round(score, 4), "quote": quote,
                            "text": self.task.example_text(self.pool[best])})
        if self.follow_log is not None:
            with self.follow_log.open("a", encoding="utf-8") as log:
                log.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return chosen

    def _annotation(self, text: str) -> dict[str, Any]:
        example = self.gold.get(text_key(text))
        if self.task.kind == "cls":
            return {"label": example["label"] if example else self.task.labels[0]}
        entities = (entities_from_tags(example["tokens"], example["tags"]) if example else [])
        return {"sentence": text, "entities": entities}


class WordSimilarity:
    """Cosine of idf-weighted word sets (normalised words) between a query and the texts it
    was built on, through an inverted index."""

    def __init__(self, texts: list[str]) -> None:
        words = [set(normalise(text).split()) for text in texts]
        frequency = Counter(w for ws in words for w in ws)
        self.idf = {w: math.log(len(texts) / f) + 1.0 for w, f in frequency.items()}
        self.norms = [math.sqrt(sum(self.idf[w] ** 2 for w in ws)) or 1.0 for ws in words]
        self.index: dict[str, list[int]] = defaultdict(list)
        for i, ws in enumerate(words):
            for w in ws:
                self.index[w].append(i)

    def nearest(self, query: str, among: set[int]) -> tuple[int | None, float]:
        """The text in ``among`` most like ``query`` and its cosine (None, 0 when none shares
        a word with it)."""
        words = set(normalise(query).split())
        norm = math.sqrt(sum(self.idf.get(w, 1.0) ** 2 for w in words)) or 1.0
        scores: Counter[int] = Counter()
        for w in words:
            weight = self.idf.get(w, 0.0) ** 2
            for i in self.index.get(w, ()):
                if i in among:
                    scores[i] += weight
        if not scores:
            return None, 0.0
        best = max(scores, key=lambda i: (scores[i] / self.norms[i], -i))
        return best, scores[best] / (self.norms[best] * norm)
