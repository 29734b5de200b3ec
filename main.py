"""``python main.py --task conll03`` from a checkout; the command line is evokd/main.py."""

from evokd.main import cli

if __name__ == "__main__":
    cli()
