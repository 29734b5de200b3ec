"""The one exception type for problems the user can fix (exit code 2, one line, no traceback)."""


class UserError(Exception):
    """Bad input: a flag, a data file, a run directory. The message says what to do."""
