"""``python -m evokd``: the same command line as ``python main.py`` and ``evokd``."""

from evokd.main import cli

cli()
