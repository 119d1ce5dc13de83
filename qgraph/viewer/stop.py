"""`run_until`: the compile pipeline for a target and quantize mode, stopped after one pass,
so that `qgraph view --after PASS` shows the graph that pass leaves.

The pass manager and context are `compile_graph`'s own (`plan_compile`: same default mode,
same option checks), so the passes see what they see in a compile.
"""

from __future__ import annotations

from typing import Any

from qgraph.compiler import _when, did_you_mean, plan_compile
from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.pipeline import PassContext, PassManager


def pass_names() -> list[str]:
    """Every pass of the pipeline, in run order (whatever the target and mode)."""
    return [item.pass_.name for item in PassManager.from_plugins().plan]


def check_pass_name(after: str, flag: str = "after=") -> None:
    """An `OptionError` naming the passes (and the closest name) when no pass is `after`;
    `flag` is how the caller gave it (`after=`, `--after `)."""
    names = pass_names()
    if after not in names:
        raise OptionError(
            f"{flag}{after!r} names no pass{did_you_mean(after, names)}; "
            f"the passes, in run order: {', '.join(names)} (`qgraph passes` describes them)"
        )


def run_until(
    graph: Graph,
    after: str,
    target: Any = "cpu",
    quantize: str | None = None,
    representative_data: Any = None,
) -> PassContext:
    """Run the passes `compile(graph, target, quantize)` would run, up to and including
    `after`, on `graph` (in place); returns the context, whose `records` say what ran."""
    check_pass_name(after)
    options = {} if representative_data is None else {"representative_data": representative_data}
    manager, ctx = plan_compile(graph, target, quantize, options)
    assert ctx.target is not None
    tgt, mode = ctx.target, ctx.quantize
    running = [p.name for p in manager.enabled(ctx)]
    if after not in running:
        p = next(item.pass_ for item in manager.plan if item.pass_.name == after)
        when = _when(p)
        raise OptionError(
            f"pass {after!r} does not run for target {tgt.name!r}, quantize={mode!r}"
            + (f" (it runs only for {when})" if when else "")
            + f"; the passes that run here: {', '.join(running)}"
        )
    manager.run(graph, ctx, stop_after=after)
    return ctx
