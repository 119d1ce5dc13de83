"""OP(fused=NONE) -> RELU|RELU6|RELU_N1_TO_1  =>  OP(fused=RELU|RELU6|RELU_N1_TO_1)

OP is any op whose OpDef has `fuses_activation` (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
ADD, SUB, MUL, the pools), minus the types the target refuses fused activations on (EdgeTPU: pools).
Never CONCATENATION: the schema has the field, but LiteRT's concat kernel refuses it at
Prepare and XNNPACK silently ignores it. The activation must be the only reader of OP's
output, which must not be a graph output.

    >>> FuseActivation().run(graph, ctx)  # CONV_2D -> RELU6  =>  CONV_2D{fused=RELU6}
"""

from __future__ import annotations

from qgraph.ir import Graph, Op
from qgraph.ops import op_defs
from qgraph.pipeline import PassContext
from qgraph.rewrite import RewritePass, fused_activation_reason, sole_reader_reason

ACTIVATIONS = ("RELU", "RELU6", "RELU_N1_TO_1")


def _why_not(graph: Graph, act: Op, allowed: frozenset[str]) -> str | None:
    producer = graph.producer(graph.inputs_of(act)[0])
    if producer is None:
        return "its input is a graph input"
    if producer.type not in allowed:
        return f"{producer.type} cannot carry a fused activation on this target"
    return fused_activation_reason(producer) or sole_reader_reason(graph, producer, act)


class FuseActivation(RewritePass):
    name = "fuse_activation"
    phase = "optimize"
    after = ("fold_batchnorm",)
    match_types = ACTIVATIONS
    summary = "fused {count} activations into their producers"

    def check(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        refused = ctx.target.no_fused_activation if ctx.target is not None else frozenset()
        allowed = frozenset(t for t, d in op_defs().items() if d.fuses_activation) - refused
        return _why_not(graph, op, allowed)

    def rewrite(self, graph: Graph, op: Op, ctx: PassContext) -> None:
        graph.absorb_into_producer(op, fused=op.type)
