"""A pool of the user's unlabelled texts (``--pool``), from which the loop picks texts for the
teacher to label instead of asking it to write them.

A pool is a text file (one text a line), a JSONL file (the task's text field; for NER also a
token list in its tokens field), a CSV file with the task's text column, or one split of a
``datasets`` dataset written with ``save_to_disk`` (its folder, e.g. ``DIR/unlabelled`` of a
saved DatasetDict; the same fields as JSONL); ``train`` takes a
task's own train texts with their labels hidden (the setting for measuring selection against
gold labels). NER texts are split into words as the labeler splits a text
(``samples.align.tokenize``); a pool text is held once, as that text. Files are streamed line by
line; only the texts are held (a 100,000-text pool of sentences takes tens of MiB).

Texts that are in the dev or test split (leakage), that are a seed example, or that repeat an
earlier pool text are left out and counted.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evokd.core.errors import UserError
from evokd.samples.align import tokenize
from evokd.samples.records import Sample
from evokd.samples.rules import text_key
from evokd.tasks.readers import (
    CSV_FIELD_LIMIT,
    jsonl_records,
    not_utf8,
    open_data,
    read_lines,
)
from evokd.tasks.spec import Example, TaskSpec

FROM_TRAIN = "train"  # --pool train: the task's own train texts, labels hidden
FORMATS = (".txt", ".jsonl", ".csv")
HINT = ("give --pool a .txt (one text a line), .jsonl or .csv file, a saved datasets split "
        "folder, or 'train'")


@dataclass(frozen=True)
class Pool:
    """The texts a run may pick from (NER: words joined by single spaces), in file order, and
    how many were left out for each reason."""

    texts: list[str]
    left_out: Counter[str] = field(default_factory=Counter)

    def sample(self, index: int, round_no: int) -> Sample:
        """Pool text ``index`` as a sample for the labeler (``call`` keeps its index)."""
        return {"text": self.texts[index], "stance": "pool", "call": index, "round": round_no}

    def examples(self, indices: Sequence[int], kind: str) -> list[Example]:
        """The texts at ``indices`` as the student reads them (NER: their words)."""
        if kind == "ner":
            return [{"tokens": self.texts[i].split(" ")} for i in indices]
        return [{"text": self.texts[i]} for i in indices]


def read_pool(spec: TaskSpec, source: str, train: Sequence[Example],
              seeds: Sequence[Example], leak_keys: Collection[str]) -> Pool:
    """The pool ``source`` names (a path, or ``train``) for ``spec``, without the texts of dev
    and test (``leak_keys``), the seed examples and repeats; a UserError if it cannot be read or
    holds no text."""
    if source == FROM_TRAIN:
        raw: Iterator[str] = (spec.example_text(ex) for ex in train)
        where = f"{spec.name}'s train split"
    else:
        check_pool_file(source)
        path = Path(source).expanduser()
        raw = _texts(spec, path)
        where = str(path)
    seed_keys = {text_key(spec.example_text(ex)) for ex in seeds}
    seen: set[str] = set()
    texts: list[str] = []
    left_out: Counter[str] = Counter()
    for text in raw:
        text = " ".join(tokenize(text)) if spec.kind == "ner" and source != FROM_TRAIN else (
            text.strip())
        if not text:
            continue
        key = text_key(text)
        reason = ("in dev or test" if key in leak_keys else "a seed example" if key in seed_keys
                  else "repeated" if key in seen else "")
        if reason:
            left_out[reason] += 1
            continue
        seen.add(key)
        texts.append(text)
    if not texts:
        raise UserError(f"--pool: {where} holds no text to pick"
                        + (f" ({_left_out_text(left_out)} left out)" if left_out else "")
                        + f"; {HINT}")
    return Pool(texts, left_out)


def check_pool_file(source: str) -> None:
    """A UserError now, before anything is written, when ``source`` is no pool file evokd
    reads (unknown format, missing, too large); its content is checked when it is read."""
    if source and source != FROM_TRAIN:
        path = Path(source).expanduser()
        if path.is_dir():
            _check_dataset_folder(path)
            return
        if path.suffix.lower() not in FORMATS:
            raise UserError(f"--pool {source}: unknown pool format {path.suffix or '(none)'!r}; "
                            f"{HINT}")
        open_data(path, HINT).close()


def describe_pool(pool: Pool) -> str:
    """One line: how many texts, and what was left out."""
    return (f"pool: {len(pool.texts):,} texts" + (
        f" ({_left_out_text(pool.left_out)} left out)" if pool.left_out else ""))


def _left_out_text(left_out: Counter[str]) -> str:
    return ", ".join(f"{n:,} {reason}" for reason, n in left_out.most_common())


def _check_dataset_folder(path: Path) -> None:
    """A UserError unless ``path`` is one split written by ``save_to_disk``."""
    if (path / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())
        raise UserError(f"--pool {path}: a saved dataset with several splits; name one, e.g. "
                        f"--pool {path / (splits[0] if splits else 'train')}"
                        + (f" (it has {', '.join(splits)})" if splits else ""))
    if not (path / "state.json").is_file():
        raise UserError(f"--pool {path}: a folder that is not a saved datasets split (no "
                        f"state.json); {HINT}")


def _dataset_texts(spec: TaskSpec, path: Path) -> Iterator[str]:
    """The texts of a saved ``datasets`` split, row by row (the table stays memory-mapped)."""
    try:
        import datasets
    except ImportError:
        raise UserError(f"--pool {path}: reading a saved dataset needs the datasets package; "
                        "pip install datasets") from None
    try:
        rows = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"--pool {path}: not a saved dataset ({str(exc).splitlines()[0]}); "
                        f"{HINT}") from None
    wanted = [c for c in (spec.source.text_field, spec.source.tokens_field)
              if c in rows.column_names]
    if not wanted:
        raise UserError(f"--pool {path}: no column {spec.source.text_field!r}"
                        + (f" or {spec.source.tokens_field!r}" if spec.kind == "ner" else "")
                        + f" (it has {', '.join(rows.column_names)}); set text_field in the "
                        "task file")
    for number, record in enumerate(rows.select_columns(wanted), start=1):
        yield _record_text(spec, record, f"{path} row {number}")


def _texts(spec: TaskSpec, path: Path) -> Iterator[str]:
    """The texts of a pool file or saved dataset split, one at a time."""
    suffix = path.suffix.lower()
    if path.is_dir():
        yield from _dataset_texts(spec, path)
    elif suffix == ".txt":
        yield from read_lines(path, HINT)
    elif suffix == ".jsonl":
        yield from _jsonl_texts(spec, path)
    else:
        yield from _csv_texts(spec, path)


def _jsonl_texts(spec: TaskSpec, path: Path) -> Iterator[str]:
    for number, record in jsonl_records(path, HINT):
        yield _record_text(spec, record, f"{path}:{number}")


def _record_text(spec: TaskSpec, record: dict[str, object], where: str) -> str:
    """The text of one JSONL record or dataset row: the text field, or for NER the words of
    the tokens field; a UserError naming ``where`` otherwise."""
    field_name, tokens_field = spec.source.text_field, spec.source.tokens_field
    value, tokens = record.get(field_name), record.get(tokens_field)
    if isinstance(value, str):
        return value
    if spec.kind == "ner" and isinstance(tokens, list) and all(isinstance(t, str)
                                                               for t in tokens):
        return " ".join(tokens)
    raise UserError(f'{where}: expected a string field "{field_name}"'
                    + (f' or a word list "{tokens_field}"' if spec.kind == "ner" else "")
                    + " (set text_field in the task file)")


def _csv_texts(spec: TaskSpec, path: Path) -> Iterator[str]:
    field_name = spec.source.text_field
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with open_data(path, HINT, newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            if field_name not in (reader.fieldnames or []):
                raise UserError(f"{path}:1: no column {field_name!r} in the header "
                                f"({', '.join(reader.fieldnames or [])}); set text_field in the "
                                "task file")
            for row in reader:
                yield row.get(field_name) or ""
        except csv.Error as exc:
            raise UserError(f"{path}:{reader.line_num + 1}: unreadable CSV ({exc})") from None
        except UnicodeDecodeError:
            raise not_utf8(path) from None
