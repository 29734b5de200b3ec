"""The one command-line helper every evokd command uses: a parser whose usage errors are one
line and exit 2, the value types of the flags, and ``run_command`` that turns a UserError into
that same one line."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from evokd.core.errors import UserError

EXIT_USAGE = 2


class UsageParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (``evokd[ CMD]: error: ...``) and exit 2,
    or, with ``raise_errors`` set (a caller that reports it itself), raises it as a UserError."""

    raise_errors = False

    def __init__(self, *args: Any, command: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("prog", f"main.py {command}".strip())
        super().__init__(*args, **kwargs)
        self.command = command

    @property
    def label(self) -> str:
        """``evokd`` or ``evokd CMD``: how this command's error lines start."""
        return f"evokd {self.command}".strip()

    def error(self, message: str) -> NoReturn:
        if self.raise_errors:
            raise UserError(message)
        self.exit(EXIT_USAGE, f"{self.label}: error: {message} (see --help)\n")


def run_command(parser: UsageParser, argv: Sequence[str],
                body: Callable[[argparse.Namespace], int]) -> int:
    """Parse ``argv`` and run ``body``; a UserError is one line on stderr and exit 2."""
    args = parser.parse_args(list(argv))
    try:
        return body(args)
    except UserError as exc:
        print(f"{parser.label}: error: {visible(str(exc))}", file=sys.stderr)
        return EXIT_USAGE


# C0 and C1 control characters, DEL, and the bidirectional overrides and isolates that reorder
# what a terminal shows: none of them may reach a terminal from a run's texts
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character written out as an escape (``\\x1b``), so text
    from an LLM or a run directory cannot move the cursor, clear the screen, fake lines or
    links on a terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def percent(value: object, width: int = 0) -> str:
    """A score (0..1) in percent with two decimals, the one scale of every printed score
    (``-`` where there is none, e.g. no test split)."""
    return f"{100 * value:{width}.2f}" if isinstance(value, (int, float)) else "-".rjust(width)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


positive = int_at_least(1)
non_negative = int_at_least(0)


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    value = non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535, got {value}")
    return value


def finite_float(noun: str, *, above_zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 (``above_zero``) or >= 0, named ``noun`` in its
    errors."""
    bound = "> 0" if above_zero else ">= 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not (value > 0 if above_zero else value >= 0) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text}")
        return value

    return parse


non_negative_float = finite_float("a number", above_zero=False)  # a price, a temperature
seconds = finite_float("a number of seconds", above_zero=True)


def k_shot(text: str) -> int | None:
    """An argparse type: examples per label, or ``all`` (None: the full train split)."""
    return None if text == "all" else positive(text)


def quote_count(text: str) -> int | None:
    """An argparse type: mistakes a hard call quotes, or ``auto`` (None: chosen by the task)."""
    return None if text == "auto" else non_negative(text)


def seed_list(text: str) -> list[int]:
    """``1-5`` or ``1,3,5`` (or a mix: ``1-3,7``) as a sorted list of distinct seeds."""
    seeds: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds like 1-5 or 1,3,5, got {text!r}"
                                             ) from None
        if first < 0 or last < first:
            raise argparse.ArgumentTypeError(f"bad seed range {part.strip()!r}")
        seeds.update(range(first, last + 1))
    return sorted(seeds)
