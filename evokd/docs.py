"""``python -m evokd.docs [README]``: rewrite the README's flag table from the settings (a new
setting, an optional role's switch or a changed help text shows up there at once)."""

from __future__ import annotations

import sys
from pathlib import Path

from evokd.graph.config import flags_markdown

TABLE_HEAD = "| flag | default | what it does |"
README = Path(__file__).resolve().parent.parent / "README.md"


def with_flag_table(text: str, table: str) -> str:
    """``text`` with its flag table (the lines from ``TABLE_HEAD`` to the last line of the
    table) replaced by ``table``; ValueError when it has none."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(TABLE_HEAD))
    except StopIteration:
        raise ValueError(f"no flag table (a line starting {TABLE_HEAD!r})") from None
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "".join(lines[:start]) + table.rstrip("\n") + "\n" + "".join(lines[end:])


def main(argv: list[str] | None = None) -> int:
    """Rewrite the flag table of README.md (or of the file given); exit 2 when it has none."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else README
    try:
        text = path.read_text(encoding="utf-8")
        updated = with_flag_table(text, flags_markdown())
    except (OSError, ValueError) as exc:
        print(f"evokd docs: error: {path}: {exc}", file=sys.stderr)
        return 2
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    print(f"{path}: flag table {'rewritten' if updated != text else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
