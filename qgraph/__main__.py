"""`python -m qgraph`: the `qgraph` program."""

from qgraph.cli import entry

entry()
