"""MAX_POOL_2D|AVERAGE_POOL_2D|RESHAPE|PAD|RESIZE_*|... (x: q) -> y  =>  y: q

These int8 kernels read and write at one scale and zero point, so the output takes the
input's parameters (after concat unification, which may have changed the input's).
Applied in topological order, so chains of such ops agree end to end.

    >>> PropagateSameScale().run(graph, ctx)  # conv:0 q1 -> MAX_POOL_2D -> pool:0 q2  =>  pool:0 q1
"""

from __future__ import annotations

import copy

from qgraph.ir import Graph
from qgraph.ops import op_facts
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import is_float


class PropagateSameScale(Pass):
    name = "propagate_same_scale"
    phase = "quantize"
    modes = ("int8",)
    after = ("unify_concat_scales",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        count = 0
        for op in graph.ops():
            if op_facts(op.type).same_scale and not is_float(op):  # a QAT model's float op keeps its own
                src, dst = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
                if src.quant is not None:
                    dst.quant = copy.deepcopy(src.quant)
                    count += 1
        if count:
            ctx.log(f"{count} pass-through ops take their input's parameters")
        return count > 0
