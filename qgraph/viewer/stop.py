"""`run_until`: the compile pipeline for a target and quantize mode, stopped after one pass,
so that `qgraph view --after PASS` shows the graph that pass leaves.

The PassContext is built as `compile_graph` builds it (same default mode, same option
checks through `check_options`), so the passes see what they see in a compile.
"""

from __future__ import annotations

from typing import Any

from qgraph.compiler import QUANTIZE_MODES, _when, check_options, did_you_mean
from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.pipeline import PassContext, PassManager
from qgraph.quant.annotations import has_learned_ranges
from qgraph.targets import get_target


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
    tgt = get_target(target)
    # As compile_graph: a QAT model carries its learned ranges, so int8 is its default.
    mode = (
        quantize if quantize is not None else ("int8" if has_learned_ranges(graph) else tgt.default_quantize)
    )
    if mode not in QUANTIZE_MODES:
        raise OptionError(
            f"quantize={mode!r} is not a quantization mode{did_you_mean(mode, QUANTIZE_MODES)}; "
            f"choose one of {', '.join(QUANTIZE_MODES)}"
        )
    tgt.require_mode(mode)
    tgt.require_static_shapes(graph)
    manager = PassManager.from_plugins()
    options = {} if representative_data is None else {"representative_data": representative_data}
    ctx = check_options(manager, tgt, mode, options)
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
