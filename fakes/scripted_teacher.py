"""A scripted teacher for loop tests: answers each agent role plausibly and deterministically.

The role is recognised from the system prompt; texts are derived from a hash of the request,
so equal requests get equal replies (as a seeded LLM would) and different requests differ.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

PEOPLE = ["Anna Berg", "Tomas Novak", "Lena Ortiz", "Marco Rossi", "Ivy Chen", "Omar Haddad",
          "Sara Lind", "Paul Weber", "Nina Petrov", "Jonas Keller", "Eva Moreau", "Raj Patel"]
ORGS = ["Nordbank", "Vexa Motors", "Union Council", "Delta Energy", "Civic Party", "Orbit Labs"]
PLACES = ["Oslo", "Lyon", "Porto", "Graz", "Tampere", "Ghent", "Bilbao", "Turin"]
MISC = ["Nordic", "Olympic", "Alpine"]
SENTIMENT = {"positive": ["a warm , funny and moving film", "the cast is wonderful"],
             "negative": ["a dull , lifeless mess", "the plot is tedious and thin"]}

SAMPLE_TAG = re.compile(r"<sample(?: index=\"\d+\")?>(.*?)</sample>", re.S)


def _digest(request: dict[str, Any]) -> int:
    text = json.dumps(request["messages"], sort_keys=True)
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def _messages(request: dict[str, Any]) -> tuple[str, str]:
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return system, user


def news_sentences(n: int, seed: int) -> list[str]:
    """``n`` news-like sentences naming a person, an organisation, a place and a MISC name."""
    out = []
    for i in range(n):
        k = seed // (7 ** i)
        person, org = PEOPLE[k % len(PEOPLE)], ORGS[(k // 3) % len(ORGS)]
        place, misc = PLACES[(k // 5) % len(PLACES)], MISC[(k // 11) % len(MISC)]
        out.append(f"{person} of {org} met {misc} officials in {place} on day {k % 997} .")
    return out


def entities_in(sentence: str) -> list[dict[str, str]]:
    """The scripted names found in ``sentence``, as ``{"text", "type"}`` entities."""
    found = []
    for names, kind in ((PEOPLE, "PER"), (ORGS, "ORG"), (PLACES, "LOC"), (MISC, "MISC")):
        found += [{"text": name, "type": kind} for name in names if name in sentence]
    return found


def reply(request: dict[str, Any]) -> str:
    """The reply content for one chat request."""
    system, user = _messages(request)
    seed = _digest(request)
    if "You are the reviewer" in system:
        rounds = len(re.findall(r"Round \d+:", user))
        return json.dumps({"memo": f"REVIEW MEMO: {rounds} earlier rounds; the student keeps "
                           "missing person names.",
                           "lessons": ["write more sentences that start with a name"]})
    if "analyst" in system:
        return json.dumps({"summary": "The student misses person names after organisations.",
                           "weak_labels": ["PER"] if "entity" in system else [],
                           "patterns": ["names at sentence start"]})
    if "You write training" in system:
        n = int(re.search(r"Write (\d+)", user).group(1))
        label = re.search(r'belong to the label "([^"]+)"', user)
        if label:
            phrases = SENTIMENT.get(label.group(1), ["a text"])
            texts = [f"{phrases[(seed >> i) % 2]} , take {seed % 10007 + i}" for i in range(n)]
        else:
            texts = news_sentences(n, seed)
        return json.dumps({"texts": texts})
    if "You write texts for a corpus" in system:  # a compact one-text classification call
        label = re.search(r'label must clearly be "([^"]+)"', user).group(1)
        phrases = SENTIMENT.get(label, ["a text"])
        return json.dumps({"text": f"{phrases[seed % 2]} , take {seed % 10007}"})
    if "quality checker" in system:
        n = int(re.search(r"Samples \((\d+)", user).group(1))
        return json.dumps({"verdicts": [{"index": i, "ok": True, "reason": ""}
                                        for i in range(n)]})
    if "annotator" in system:
        text = SAMPLE_TAG.findall(user)[-1]
        if "text-classification" in system:
            return json.dumps({"label": "negative" if "dull" in text or "tedious" in text
                               else "positive"})
        return json.dumps({"sentence": text, "entities": entities_in(text)})
    return "{}"
