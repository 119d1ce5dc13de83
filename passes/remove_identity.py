"""IDENTITY(x) => x ;  RESHAPE(x) to x's own shape => x

Dropout, noise layers and `Activation("linear")` reach the IR as IDENTITY; they compute
nothing at inference. A RESHAPE whose output shape equals its input shape is dropped too.
Kept (and logged) when both ends are graph boundaries, which TFLite cannot alias.

    >>> RemoveIdentity().run(graph, ctx)  # CONV_2D -> IDENTITY -> RELU  =>  CONV_2D -> RELU
"""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.pipeline import Pass, PassContext


def _is_noop(graph: Graph, op: Op) -> bool:
    if op.type == "IDENTITY":
        return True
    if op.type == "RESHAPE":
        src, dst = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
        return src.shape == dst.shape and list(src.shape).count(-1) <= 1
    return False


class RemoveIdentity(Pass):
    name = "remove_identity"
    phase = "import"

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        removed = copies = 0
        for op in graph.ops():
            if not _is_noop(graph, op):
                continue
            src, dst = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
            if graph.is_graph_output(dst) and (src.name in graph.inputs or graph.is_graph_output(src)):
                if op.type == "IDENTITY" and list(src.shape).count(-1) <= 1:
                    # TFLite has no identity op: a RESHAPE to the same shape copies the tensor.
                    new_shape = tuple(src.shape)
                    graph.replace_op(
                        op,
                        Op(op.name, "RESHAPE", {"new_shape": new_shape}, dict(op.meta)),
                        [src, graph.const(f"{op.name}/shape", np.asarray(new_shape, np.int32))],
                    )
                    copies += 1
                ctx.log(f"kept {op.name} as a copy: it joins two graph boundaries")
                continue
            graph.remove_op(op, remove_dead_tensors=False)
            graph.replace_all_uses(dst, src)
            graph.remove_tensor(dst)
            removed += 1
        if removed:
            graph.prune()
            ctx.log(f"removed {removed} no-op ops")
        return removed + copies > 0
