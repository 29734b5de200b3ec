"""``python -m teacher.local {serve,models}``."""

import logging
import os
import sys

from evokd.teacher.local.cli import main

if __name__ == "__main__":
    code = main()
    # Everything is shut down by now; skip the interpreter's slow teardown of torch and the
    # model (seconds), so that LocalTeacher.stop() returns promptly.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
