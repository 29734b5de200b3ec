"""``python -m teacher.local {serve,models}``."""

import sys

from teacher.local.cli import main

if __name__ == "__main__":
    sys.exit(main())
