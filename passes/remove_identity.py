"""IDENTITY(x) => x ;  RESHAPE(x) to x's own shape => x

Dropout, noise layers and `Activation("linear")` reach the IR as IDENTITY; they compute
nothing at inference. A RESHAPE whose output shape equals its input shape is dropped too.
Kept (and logged) when both ends are graph boundaries, which TFLite cannot alias.

    >>> RemoveIdentity().run(graph, ctx)  # CONV_2D -> IDENTITY -> RELU  =>  CONV_2D -> RELU
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.pipeline import PassContext
from qgraph.rewrite import RewritePass


def _is_noop(graph: Graph, op: Op) -> bool:
    if op.type == "IDENTITY":
        return True
    if op.type == "RESHAPE":
        src, dst = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
        return src.shape == dst.shape and list(src.shape).count(-1) <= 1
    return False


class RemoveIdentity(RewritePass):
    name = "remove_identity"
    phase = "import"
    refusal = "kept {op} as a copy: {reason}"
    summary = "removed {count} no-op ops"

    def candidates(self, graph: Graph, ctx: PassContext) -> Iterator[Op]:
        # Decided op by op, as the loop reaches it: an earlier removal rewires this op's input.
        return (op for op in graph.ops() if op.name in graph.nx and _is_noop(graph, op))

    def check(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        src, dst = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
        if graph.is_graph_output(dst) and (src.name in graph.inputs or graph.is_graph_output(src)):
            return "it joins two graph boundaries"
        return None

    def rewrite(self, graph: Graph, op: Op, ctx: PassContext) -> None:
        src, dst = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
        graph.remove_op(op, remove_dead_tensors=False)
        graph.replace_all_uses(dst, src)
        graph.remove_tensor(dst)

    def fallback(self, graph: Graph, op: Op, ctx: PassContext) -> bool:
        src = graph.inputs_of(op)[0]
        if op.type != "IDENTITY" or list(src.shape).count(-1) > 1:
            return False
        # TFLite has no identity op: a RESHAPE to the same shape copies the tensor.
        new_shape = tuple(src.shape)
        graph.replace_op(
            op,
            Op(op.name, "RESHAPE", {"new_shape": new_shape}, dict(op.meta)),
            [src, graph.const(f"{op.name}/shape", np.asarray(new_shape, np.int32))],
        )
        return True

    def finish(self, graph: Graph, ctx: PassContext, rewritten: int) -> None:
        if rewritten:  # a removed RESHAPE leaves its shape constant behind
            graph.prune()
