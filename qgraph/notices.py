"""Warnings from the passes of a compile: the file runs, but not exactly as the model or the
options asked (a weight kept in float32 because float16 cannot hold it, a QAT model's
per-channel weights requantized per tensor for a target without per-axis support).

`warn(graph, ctx, message)` puts the message in the pass's report line and in the compile
report's `warnings` (`result.report.warnings`, printed by `--report`); `compile` then raises
each as a Python `CompileWarning` at the caller's line, so a script that never prints the
report still sees it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qgraph.ir import Graph
    from qgraph.pipeline import PassContext

_KEY = "compile_warnings"


class CompileWarning(UserWarning):
    """A compile wrote a file that differs from what was asked; the message says how and why."""


def warn(graph: Graph, ctx: PassContext, message: str) -> None:
    ctx.log(f"warning: {message}")
    graph.meta.setdefault(_KEY, []).append(message)


def compile_warnings(graph: Graph) -> list[str]:
    """The warnings the passes gave while compiling `graph`, in order."""
    return list(graph.meta.get(_KEY, []))


def raise_warnings(messages: list[str], stacklevel: int) -> None:
    for message in messages:
        warnings.warn(message, CompileWarning, stacklevel=stacklevel + 1)
