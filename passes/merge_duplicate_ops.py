"""op(x, attrs) twice  =>  one op(x, attrs), read by both readers (common-subexpression elimination)

Keras models often apply the same layer-free computation twice to one tensor: NASNet's cells
give every branch its own `Activation("relu")` of the cell input, and its own same-padded
average pool. TFLiteConverter merges them (Grappler's arithmetic optimizer); without the
merge each copy costs its own kernel, and the producer of the shared input cannot fuse the
RELU (it has several readers), so in int8 it writes the pre-activation range at a coarser
scale and each RELU requantizes. Two ops merge when they have the same type, the same
attributes and the same inputs (a constant input counts by its value). Ops that write graph
outputs, and ops whose state is a variable tensor, are kept.

    >>> MergeDuplicateOps().run(graph, ctx)  # p -> RELU a, p -> RELU b  =>  p -> RELU a (read by both)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgraph.ir import Graph, Op, Tensor
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import observed_range


def _input_key(t: Tensor) -> tuple:
    # A constant's values are compared only when everything else matches (`_same_constants`):
    # hashing every conv's weights would cost more than the rest of a float compile.
    return ("tensor", t.name) if t.data is None else ("const", t.dtype, tuple(t.shape))


def _same_constants(graph: Graph, a: Op, b: Op) -> bool:
    return all(
        x is y or x.data is None or y.data is None or np.array_equal(x.data, y.data)
        for x, y in zip(graph.inputs_of(a), graph.inputs_of(b), strict=True)
    )


def _attr_key(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_attr_key(v) for v in value)
    if hasattr(value, "tolist"):  # numpy values compare by content
        return ("array", repr(value.tolist()))
    return repr(value)


class MergeDuplicateOps(Pass):
    name = "merge_duplicate_ops"
    phase = "import"
    after = ("remove_identity",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        seen: dict[tuple, list[Op]] = {}
        merged = 0
        # A recurrent op's state tensors must stay separate buffers, even when computed alike.
        state = {
            graph.inputs_of(op)[port].name
            for op in graph.ops()
            for port in op.attrs.get("variable_inputs", ())
        }
        for op in graph.ops():  # topological: an op's inputs are already merged when it is reached
            outputs = graph.outputs_of(op)
            if "variable_inputs" in op.attrs or any(
                graph.is_graph_output(t) or t.name in state for t in outputs
            ):
                continue
            key = (
                op.type,
                tuple(sorted((k, _attr_key(v)) for k, v in op.attrs.items())),
                tuple(_input_key(t) for t in graph.inputs_of(op)),
                # a QAT model's learned ranges: copies that trained different ranges stay apart
                tuple((repr(observed_range(t)), repr(t.quant)) for t in outputs),
            )
            alike = seen.setdefault(key, [])
            first = next((other for other in alike if _same_constants(graph, other, op)), None)
            if first is None:
                alike.append(op)
                continue
            graph.remove_op(op, remove_dead_tensors=False)
            for dup, kept in zip(outputs, graph.outputs_of(first), strict=True):
                graph.replace_all_uses(dup, kept)
                graph.remove_tensor(dup)
            merged += 1
        if merged:
            graph.prune()  # the duplicates' own constants
            ctx.log(f"merged {merged} duplicate ops into their first copy")
        return merged > 0
