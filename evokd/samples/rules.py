"""The critic's rule checks, in pure Python (no LLM): accept any input, never raise.

``text_key`` is the normalised-text hash shared with the caller: the graph hashes earlier
samples (``seen``) and the dev/test texts (``leak_keys``) with it, so the critic never sees a
dev/test text itself.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from evokd.samples.align import align_entities, canonical_type, validate_iob2
from evokd.samples.drops import MAX_WORDS, DropReason, make_drop, word_count
from evokd.samples.markup import has_delimiter_tag
from evokd.samples.records import Drop, Sample
from evokd.tasks.spec import TaskSpec

_WORDS = re.compile(r"\w+")


def normalise(text: str) -> str:
    """NFKC, case-folded, words only, single spaces: "CNN ." and "cnn." normalise alike."""
    return " ".join(_WORDS.findall(unicodedata.normalize("NFKC", text).casefold()))


def text_key(text: str) -> str:
    """Hash of the normalised text (for duplicate and leakage checks)."""
    return hashlib.sha1(normalise(text).encode("utf-8")).hexdigest()


def sample_text(sample: Mapping[str, Any]) -> str:
    """The text of a sample: its ``text`` field, else its tokens joined by spaces."""
    text = sample.get("text")
    if isinstance(text, str) and text.strip():
        return text
    tokens = sample.get("tokens")
    if isinstance(tokens, (list, tuple)):
        return " ".join(str(t) for t in tokens)
    return ""


@dataclass
class _Reference:
    """A text a new one must not nearly copy (a seed example, a quoted mistake, an earlier
    sample), normalised."""

    norm: str
    words: frozenset[str]


def _references(texts: Iterable[str]) -> list[_Reference]:
    refs = []
    for text in texts:
        norm = normalise(text)
        if norm:
            refs.append(_Reference(norm, frozenset(norm.split())))
    return refs


@dataclass
class RuleCritic:
    """Rule checks for one task; ``seen`` grows with every sample kept."""

    task: TaskSpec
    seeds: Sequence[Mapping[str, Any]] = ()
    seen: set[str] = field(default_factory=set)
    leak_keys: Collection[str] = frozenset()
    near: Sequence[str] = ()  # texts not to nearly repeat: quoted mistakes, earlier samples
    jaccard: float = 0.8
    ratio: float = 0.9
    max_words: int | None = None

    def __post_init__(self) -> None:
        self._seeds = _references(sample_text(seed) for seed in self.seeds
                                  if isinstance(seed, Mapping))
        self._near = _references(self.near)

    def check(self, sample: Any) -> tuple[DropReason, str] | None:
        """The first failed rule as ``(reason, detail)``, or None when the sample passes."""
        if not isinstance(sample, Mapping):
            return "malformed_sample", "sample is not an object"
        return self._check_labels(sample) or self.check_text(
            sample_text(sample), capped=sample.get("stance") != "pool")

    def check_text(self, text: str, capped: bool = True) -> tuple[DropReason, str] | None:
        """The text rules alone (empty, delimiter tags, length, leakage, seed copy, duplicate):
        they need no labels, so the loop also runs them on generated texts before labelling.
        ``capped=False`` (a real text picked from a pool): no word cap."""
        norm = normalise(text)
        if not norm:
            return "empty", "no words"
        if has_delimiter_tag(text):
            return "malformed_sample", "prompt delimiter tags in the text"
        limit = self.max_words or MAX_WORDS[self.task.kind]
        if capped and word_count(text) > limit:
            return "too_long", f"{word_count(text)} words > {limit}"
        key = hashlib.sha1(norm.encode("utf-8")).hexdigest()
        if key in self.leak_keys:
            return "leak", "text occurs in the dev/test data"
        copy = self._near_copy(norm, self._seeds, "a seed example")
        if copy:
            return "seed_copy", copy
        if key in self.seen:
            return "duplicate", "same normalised text as an earlier sample"
        copy = self._near_copy(norm, self._near, "a quoted mistake or an earlier sample",
                               quick=True)
        if copy:
            return "near_duplicate", copy
        return None

    def _check_labels(self, sample: Mapping[str, Any]) -> tuple[DropReason, str] | None:
        labels = self.task.labels
        if self.task.kind == "cls":
            text, label = sample.get("text"), sample.get("label")
            if not isinstance(text, str):
                return "malformed_sample", "no text string"
            if not isinstance(label, str) or label not in labels:
                return "unknown_label", f"label {label!r} is not one of {list(labels)}"
            intended = sample.get("intended_label")
            if intended is not None and intended != label:
                return "label_disagreement", f"labeled {label!r}, intended {intended!r}"
            return None
        tokens, tags = sample.get("tokens"), sample.get("tags")
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
            return "malformed_sample", "tokens must be a list of strings"
        if not isinstance(tags, (list, tuple)) or len(tags) != len(tokens):
            return "malformed_sample", "tags must be a list as long as tokens"
        for tag in tags:
            if not isinstance(tag, str):
                return "malformed_sample", "tags must be strings"
            if tag != "O" and tag[2:] not in labels:
                return "unknown_label", f"tag {tag!r} has a type outside {list(labels)}"
        try:
            validate_iob2(tags, len(tokens), labels)
        except ValueError as error:
            return "malformed_sample", f"invalid IOB2 tags: {error}"
        entities = sample.get("entities")
        if entities is None:
            return None
        for entity in entities if isinstance(entities, (list, tuple)) else ():
            kind = entity.get("type") if isinstance(entity, Mapping) else None
            if kind is not None and canonical_type(kind, labels) is None:
                return "unknown_label", f"entity type {kind!r} is not one of {list(labels)}"
        try:
            align_entities(tokens, entities, labels)
        except ValueError as error:
            return "span_not_found", str(error)
        return None

    def _near_copy(self, norm: str, refs: Sequence[_Reference], what: str, *,
                   quick: bool = False) -> str | None:
        """How ``norm`` nearly copies one of ``refs`` (it holds one word for word, or the word
        sets or the character sequences are nearly the same), or None. ``quick`` (for many
        references) compares characters only where half the Jaccard bar of words is shared."""
        words = frozenset(norm.split())
        for ref in refs:
            if len(ref.words) >= 4 and f" {ref.norm} " in f" {norm} ":
                return f"holds {what} word for word"
            union = len(words | ref.words)
            jaccard = len(words & ref.words) / union if union else 0.0
            if jaccard >= self.jaccard:
                return f"word-set Jaccard {jaccard:.2f} with {what}"
            if quick and jaccard < self.jaccard / 2:
                continue
            ratio = difflib.SequenceMatcher(None, norm[:1000], ref.norm[:1000]).ratio()
            if ratio >= self.ratio:
                return f"similarity {ratio:.2f} with {what}"
        return None

    def filter(
        self, samples: Iterable[Any], *, labels: bool = True
    ) -> tuple[list[Sample], list[Drop]]:
        """``(kept, dropped)``; kept samples are added to ``seen`` (so repeats are duplicates).

        ``labels=False`` applies only the text rules (for texts not yet labelled).
        """
        kept: list[Sample] = []
        dropped: list[Drop] = []
        for sample in samples:
            if labels or not isinstance(sample, Mapping):
                problem = self.check(sample)
            else:
                problem = self.check_text(sample_text(sample))
            record = dict(sample) if isinstance(sample, Mapping) else {"value": repr(sample)}
            if problem:
                dropped.append(make_drop(problem[0], problem[1], role="critic", sample=record))
            else:
                kept.append(cast(Sample, record))  # its shape passed the checks
                self.seen.add(text_key(sample_text(record)))
        return kept, dropped


def check_rules(
    task: TaskSpec,
    samples: Iterable[Any],
    *,
    seeds: Sequence[Mapping[str, Any]] = (),
    seen: Collection[str] = frozenset(),
    leak_keys: Collection[str] = frozenset(),
) -> tuple[list[Sample], list[Drop]]:
    """Rule-check a batch: ``(kept, dropped)``; ``seen``/``leak_keys`` hold ``text_key`` hashes."""
    critic = RuleCritic(task, seeds=seeds, seen=set(seen), leak_keys=leak_keys)
    return critic.filter(samples)


def leak_check(
    samples: Iterable[Any], leak_keys: Collection[str]
) -> tuple[list[Sample], list[Drop]]:
    """Only the leakage rule (``--no-critic``): drop samples whose text is a dev/test text."""
    kept: list[Sample] = []
    dropped: list[Drop] = []
    for sample in samples:
        record = dict(sample) if isinstance(sample, Mapping) else {"value": repr(sample)}
        if text_key(sample_text(record)) in leak_keys:
            dropped.append(make_drop("leak", "text occurs in the dev/test data", role="critic",
                                     sample=record))
        else:
            kept.append(cast(Sample, record))  # unchecked by design (--no-critic)
    return kept, dropped
