"""The dry run's student: no model and no training, so a dry run takes seconds. It learns a
lexicon from what it is trained on (NER: each word's most frequent tag; classification: the
labels each word was seen with) and predicts from it; it is scored with the real metrics. So the
nodes that read a student (feedback, the analyst's right and wrong samples, targeting by dev F1
per label, model selection) run as in a real round, on predictions of about the quality a
student trained on a handful of samples gives."""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evokd.graph.config import RunConfig
from evokd.graph.students import StepCallback
from evokd.student.hardware import Hardware
from evokd.student.metrics import cls_scores, ner_scores
from evokd.student.probe import Probe
from evokd.tasks.spec import TaskSpec

LEXICON_FILE = "stand_in_student.json"
SCORED = 500
HASHED = 64  # dimensions of the stand-in's bag-of-words embedding


class LexiconStudent:
    """Predicts from word counts of its training samples."""

    def __init__(self, spec: TaskSpec, words: dict[str, dict[str, int]] | None = None,
                 labels: dict[str, int] | None = None) -> None:
        self.spec = spec
        self.words: dict[str, Counter[str]] = {w: Counter(c) for w, c in (words or {}).items()}
        self.labels: Counter[str] = Counter(labels or {})
        self.last_truncated = 0  # a lexicon reads whole texts

    def learn(self, examples: Sequence[Mapping[str, Any]]) -> None:
        """Count the words of ``examples`` with their tags (NER) or labels (classification)."""
        for example in examples:
            if self.spec.kind == "ner":
                for word, tag in zip(example["tokens"], example["tags"], strict=True):
                    self.words.setdefault(word, Counter())[tag] += 1
            else:
                self.labels[example["label"]] += 1
                for word in set(example["text"].lower().split()):
                    self.words.setdefault(word, Counter())[example["label"]] += 1

    def predict(self, examples: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Each word's most frequent tag (``O`` if unseen), or the label whose words the text
        shares most (the most frequent label on a tie or with none)."""
        if self.spec.kind == "ner":
            return [[self._top(word, "O") for word in ex["tokens"]] for ex in examples]
        prior = self._prior()
        return [self._label(ex["text"], prior) for ex in examples]

    def evaluate(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Scores on the first ``SCORED`` of ``examples``, computed as a real student's are
        (they steer the loop, nobody reads them: enough to rank labels, and fast)."""
        examples = examples[:SCORED]
        predicted = self.predict(examples)
        if self.spec.kind == "ner":
            scores = ner_scores([ex["tags"] for ex in examples], predicted)
        else:
            scores = cls_scores([ex["label"] for ex in examples], predicted,
                                list(self.spec.labels))
        return {**scores, "truncated": 0}

    def probe(self, examples: Sequence[Mapping[str, Any]]) -> Probe:
        """Confidence: the mean log share of each word's top tag or label (an unseen word
        counts as a coin toss); embedding: the words hashed into ``HASHED`` dimensions."""
        predicted = self.predict(examples)
        confidence, rows = [], []
        for example in examples:
            words = (example["tokens"] if self.spec.kind == "ner"
                     else example["text"].lower().split())  # as learn() counts them
            shares = [max(c.values()) / sum(c.values()) if (c := self.words.get(w)) else 0.5
                      for w in words]
            confidence.append(sum(map(math.log, shares)) / len(shares) if shares else 0.0)
            row = [0.0] * HASHED
            for word in words:
                row[zlib.crc32(word.lower().encode()) % HASHED] += 1.0
            norm = math.sqrt(sum(v * v for v in row)) or 1.0
            rows.append([v / norm for v in row])
        return Probe(confidence, predicted, rows)

    def save(self, path: Path) -> None:
        """Write the lexicon to ``path`` (a folder)."""
        path.mkdir(parents=True, exist_ok=True)
        (path / LEXICON_FILE).write_text(json.dumps({"words": self.words,
                                                     "labels": self.labels}))

    @classmethod
    def load(cls, spec: TaskSpec, path: Path) -> LexiconStudent:
        """The lexicon saved at ``path``."""
        saved = json.loads((path / LEXICON_FILE).read_text())
        return cls(spec, saved["words"], saved["labels"])

    def _top(self, word: str, default: str) -> str:
        counts = self.words.get(word)
        return counts.most_common(1)[0][0] if counts else default

    def _prior(self) -> list[str]:
        order = {label: index for index, label in enumerate(self.spec.labels)}
        return sorted(self.spec.labels, key=lambda label: (-self.labels[label], order[label]))

    def _label(self, text: str, prior: list[str]) -> str:
        votes: Counter[str] = Counter()
        for word in set(text.lower().split()):
            votes.update(self.words.get(word, {}))
        return max(prior, key=lambda label: votes[label])  # the first of equals: by prior


class StandInStudents:
    """``Students`` for the dry run: lexicon students, saved as small JSON files."""

    def __init__(self) -> None:
        self._loaded: dict[str, LexiconStudent] = {}

    def train(self, spec: TaskSpec, config: RunConfig, hardware: Hardware, base: str | None,
              examples: Sequence[Mapping[str, Any]], path: Path, *, steps: int, seed: int,
              on_step: StepCallback | None = None) -> int:
        """A copy of the lexicon at ``base`` (an empty one when None) that has learnt
        ``examples``, saved at ``path``; no text is ever cut (returns 0)."""
        student = LexiconStudent.load(spec, Path(base)) if base else LexiconStudent(spec)
        student.learn(examples)
        student.save(path)
        self._loaded[str(path)] = student
        return 0

    def cached(self, spec: TaskSpec, path: str, hardware: Hardware) -> LexiconStudent:
        """The lexicon saved at ``path``."""
        if path not in self._loaded:
            self._loaded[path] = LexiconStudent.load(spec, Path(path))
        return self._loaded[path]
