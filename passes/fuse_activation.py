"""OP(fused=NONE) -> RELU|RELU6|RELU_N1_TO_1  =>  OP(fused=RELU|RELU6|RELU_N1_TO_1)

OP is CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL, MAX_POOL_2D or
AVERAGE_POOL_2D, minus the types the target refuses fused activations on (EdgeTPU: pools).
Never CONCATENATION: the schema has the field, but LiteRT's concat kernel refuses it at
Prepare and XNNPACK silently ignores it. The activation must be the only reader of OP's
output, which must not be a graph output.

    >>> FuseActivation().run(graph, ctx)  # CONV_2D -> RELU6  =>  CONV_2D{fused=RELU6}
"""

from __future__ import annotations

from qgraph.ir import Graph, Op
from qgraph.pipeline import Pass, PassContext

ACTIVATIONS = ("RELU", "RELU6", "RELU_N1_TO_1")
FUSABLE = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "SUB",
        "MUL",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
    }
)


def _why_not(graph: Graph, act: Op, allowed: frozenset[str]) -> str | None:
    producer = graph.producer(graph.inputs_of(act)[0])
    if producer is None:
        return "its input is a graph input"
    if producer.type not in allowed:
        return f"{producer.type} cannot carry a fused activation on this target"
    if producer.attrs.get("fused", "NONE") != "NONE":
        return f"{producer.name} already has fused {producer.attrs['fused']}"
    if graph.sole_reader(graph.outputs_of(producer)[0]) is not act:
        return f"{producer.name}'s output is also read elsewhere"
    return None


class FuseActivation(Pass):
    name = "fuse_activation"
    phase = "optimize"
    after = ("fold_batchnorm",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        refused = ctx.target.no_fused_activation if ctx.target is not None else frozenset()
        allowed = FUSABLE - refused
        fused = 0
        for act in [op for op in graph.ops() if op.type in ACTIVATIONS]:
            reason = _why_not(graph, act, allowed)
            if reason:
                ctx.log(f"kept {act.name}: {reason}")
                continue
            graph.absorb_into_producer(act, fused=act.type)
            fused += 1
        if fused:
            ctx.log(f"fused {fused} activations into their producers")
        return fused > 0
