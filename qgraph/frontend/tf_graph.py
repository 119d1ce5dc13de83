"""A layer qgraph has no lowering for -> the ops of its traced TensorFlow graph."""

from __future__ import annotations

from qgraph.frontend.lowering import LOWERINGS, LowerCtx
from qgraph.ir import Tensor


def lower_traced(ctx: LowerCtx, why: str) -> list[Tensor]:
    raise ctx.fail(
        f"{why}. Supported layer classes are listed in docs/layers.md ({len(LOWERINGS)} classes). "
        "To add it, implement the `qgraph_lower_layer(layer, inputs, graph)` hook in a plugin and "
        "register it with qgraph.register_plugin (see docs/hooks.md)."
    )
