"""`python -m aggregator` runs the command line."""

from .cli import cli

cli()
