"""Small custom tasks written to a temporary folder: task files and their data.

Each builder writes a task file and its data under ``root`` and returns the task file's path:

- ``ner_conll_task``: social-media style NER with hyphenated labels (``creative-work``), BIOES
  tags in tab-separated CoNLL files
- ``tickets_csv_task``: support-ticket classification from CSV with named columns
- ``ner_dataset_task``: NER from a ``datasets`` DatasetDict saved with ``save_to_disk``
  (integer tags through ClassLabel names)
- ``ner_seeds_task``: the user's own seed examples instead of a train split
- ``tickets_no_test_task``: classification from JSONL with no test split

``custom_reply`` is the scripted teacher (fakes/scripted_teacher.py) speaking these tasks'
labels, for two-round loops.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from fakes.scripted_teacher import ORGS, PEOPLE, PLACES, SAMPLE_TAG, reply

NER_LABELS = {
    "person": "names of people, real or fictional",
    "location": "countries, cities, places",
    "corporation": "companies and brands",
    "creative-work": "titles of films, songs, books and games",
}
# the scripted teacher's entity types -> this task's labels
TYPE_MAP = {"PER": "person", "LOC": "location", "ORG": "corporation", "MISC": "creative-work"}
WORKS = ["Star Wars", "Blue Moon Saga", "The Long Road"]
TICKETS = {
    "billing": "I was charged twice on my invoice",
    "outage": "the service is down and pages time out",
    "login": "I cannot sign in and the password reset fails",
}


def _bioes(words: list[str], label: str) -> list[tuple[str, str]]:
    if len(words) == 1:
        return [(words[0], f"S-{label}")]
    inner = [(w, f"I-{label}") for w in words[1:-1]]
    return [(words[0], f"B-{label}"), *inner, (words[-1], f"E-{label}")]


def ner_sentences(n: int, offset: int = 0) -> list[list[tuple[str, str]]]:
    """``n`` tagged sentences (BIOES) mentioning a person, corporation, work and place."""
    out = []
    for i in range(offset, offset + n):
        person, corp = PEOPLE[i % len(PEOPLE)], ORGS[(i // 2) % len(ORGS)]
        work, place = WORKS[(i // 3) % len(WORKS)], PLACES[(i // 5) % len(PLACES)]
        sentence = [*_bioes(person.split(), "person"), ("from", "O"),
                    *_bioes(corp.split(), "corporation"), ("loved", "O"),
                    *_bioes(work.split(), "creative-work"), ("in", "O"),
                    *_bioes(place.split(), "location"), (f"#{i}", "O")]
        out.append(sentence)
    return out


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    """Tab-separated ``token<TAB>TAG`` lines, a blank line between sentences."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join("\n".join(f"{t}\t{g}" for t, g in s) for s in sentences)
                    + "\n", encoding="utf-8")


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


NER_HEADER = """\
name: social
kind: ner
description: Named entities in social-media posts.
domain: tweets, Reddit and YouTube comments
labels:
  person: names of people, real or fictional
  location: countries, cities, places
  corporation: companies and brands
  creative-work: titles of films, songs, books and games
"""


def ner_conll_task(root: Path) -> Path:
    write_conll(root / "data" / "train.conll", ner_sentences(30))
    write_conll(root / "data" / "dev.conll", ner_sentences(8, 100))
    write_conll(root / "data" / "test.conll", ner_sentences(8, 200))
    return write_yaml(root / "social.yaml", NER_HEADER + """\
format: conll
data:
  train: data/train.conll
  dev: data/dev.conll
  test: data/test.conll
""")


def write_tickets_csv(path: Path, n: int, offset: int = 0, text: str = "body",
                      label: str = "category") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", text, label])
        for i in range(offset, offset + n):
            name = list(TICKETS)[i % len(TICKETS)]
            writer.writerow([i, f"{TICKETS[name]}, ticket {i}", name])


TICKETS_HEADER = """\
name: tickets
kind: classification
description: Category of a customer support ticket.
domain: customer support e-mails
labels:
  billing: invoices, charges, refunds
  outage: the service is down or slow
  login: signing in, passwords, accounts
"""


def tickets_csv_task(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_tickets_csv(root / "train.csv", 30)
    write_tickets_csv(root / "dev.csv", 9, 100)
    write_tickets_csv(root / "test.csv", 9, 200)
    return write_yaml(root / "tickets.yaml", TICKETS_HEADER + """\
format: csv
text_field: body
label_field: category
data:
  train: train.csv
  dev: dev.csv
  test: test.csv
""")


def ner_dataset_task(root: Path) -> Path:
    import datasets

    names = ["O"] + [f"{p}-{t}" for t in NER_LABELS for p in ("B", "I")]
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
    })

    def split(n: int, offset: int) -> Any:
        rows = [[(t, g.replace("E-", "I-").replace("S-", "B-")) for t, g in s]
                for s in ner_sentences(n, offset)]
        return datasets.Dataset.from_dict(
            {"tokens": [[t for t, _ in s] for s in rows],
             "ner_tags": [[names.index(g) for _, g in s] for s in rows]}, features=features)

    datasets.DatasetDict({"train": split(30, 0), "validation": split(8, 100),
                          "test": split(8, 200)}).save_to_disk(str(root / "social_ds"))
    return write_yaml(root / "social_ds.yaml", NER_HEADER.replace("name: social",
                                                                  "name: social-ds") + """\
tokens_field: tokens
tags_field: ner_tags
data:
  dataset: social_ds
  train: train
  dev: validation
  test: test
""")


def ner_seeds_task(root: Path) -> Path:
    write_conll(root / "my_examples.conll", ner_sentences(2, 50))
    write_conll(root / "dev.conll", ner_sentences(8, 100))
    return write_yaml(root / "seeded.yaml", NER_HEADER.replace("name: social", "name: seeded")
                      + """\
format: conll
data:
  seeds: my_examples.conll
  dev: dev.conll
""")


def tickets_no_test_task(root: Path) -> Path:
    def rows(n: int, offset: int) -> str:
        names = list(TICKETS)
        return "".join(json.dumps({"message": f"{TICKETS[names[i % 3]]}, ticket {i}",
                                   "topic": names[i % 3]}) + "\n"
                       for i in range(offset, offset + n))

    root.mkdir(parents=True, exist_ok=True)
    (root / "train.jsonl").write_text(rows(30, 0), encoding="utf-8")
    (root / "dev.jsonl").write_text(rows(9, 100), encoding="utf-8")
    return write_yaml(root / "notest.yaml", TICKETS_HEADER.replace("name: tickets",
                                                                   "name: notest") + """\
format: jsonl
text_field: message
label_field: topic
data:
  train: train.jsonl
  dev: dev.jsonl
""")


BUILDERS = {
    "ner-conll-hyphenated": ner_conll_task,
    "cls-csv": tickets_csv_task,
    "ner-datasets": ner_dataset_task,
    "ner-seeds-file": ner_seeds_task,
    "cls-no-test": tickets_no_test_task,
}


def custom_reply(request: dict[str, Any]) -> str:
    """The scripted teacher's reply, in the custom tasks' labels."""
    system = request["messages"][0]["content"]
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    if "You write training" in system:
        label = re.search(r'belong to the label "([^"]+)"', user)
        if label and label.group(1) in TICKETS:
            n = int(re.search(r"Write (\d+)", user).group(1))
            seed = sum(map(ord, user))
            return json.dumps({"texts": [
                f"Message {seed + i}: since yesterday evening {TICKETS[label.group(1)]} and "
                "nobody has answered my e-mails so far" for i in range(n)]})
    if "annotator" in system and "text-classification" in system and (
            "quality checker" not in system):
        text = SAMPLE_TAG.findall(user)[-1]
        found = [name for name, phrase in TICKETS.items() if phrase in text]
        return json.dumps({"label": found[0] if found else "billing"})
    content = reply(request)
    for old, new in TYPE_MAP.items():
        content = content.replace(f'"type": "{old}"', f'"type": "{new}"')
        content = content.replace(f'"{old}"', f'"{new}"')  # weak_labels of the analyst
    return content


__all__ = ["BUILDERS", "NER_LABELS", "custom_reply", "ner_sentences", "write_conll",
           "write_tickets_csv", "write_yaml"]
