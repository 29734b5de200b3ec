"""One argparse parser for evokd's commands: a usage error is one line and exit code 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

from tasks.errors import UserError

EXIT_USAGE = 2


class UsageParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (``evokd: error: ...``) and exit 2, or,
    with ``raise_errors`` set (the Python API), raises it as a UserError."""

    raise_errors = False

    def error(self, message: str) -> NoReturn:
        if self.raise_errors:
            raise UserError(message)
        self.exit(EXIT_USAGE, f"evokd: error: {message} (see --help)\n")
