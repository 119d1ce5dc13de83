"""tensors annotated with QuantParams (float data)  =>  integer tensors (int8/uint8 activations, int8 weights, int32 bias)

The last quantization step: weights become narrow-range int8 ([-127, 127]), biases int32,
other constants and activations the dtype of their parameters. Float tensors without
parameters (float I/O) stay float. Runs last in `legalize`, so earlier passes and the
Keras emitter can still treat the graph as float with annotations.

    >>> MaterializeInt8().run(graph, ctx)  # conv/kernel f32 q(axis=0)  =>  conv/kernel i8 q(axis=0)
"""

from __future__ import annotations

from qgraph.ir import Graph
from qgraph.ops import op_facts
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.numerics import quantize


class MaterializeInt8(Pass):
    name = "materialize_int8"
    phase = "legalize"
    modes = ("int8",)
    after = ("insert_io_quantize",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        weights = {
            graph.inputs_of(op)[port].name
            for op in graph.ops()
            if (port := op_facts(op.type).weight_port) is not None
        }
        count = 0
        for t in graph.tensors():
            if t.quant is None or t.dtype != "float32":
                continue
            if t.data is not None:
                t.data = quantize(t.data, t.quant, t.quant.dtype, narrow=t.name in weights)
            t.dtype = t.quant.dtype
            count += 1
        ctx.log(f"{count} tensors now integer")
        return count > 0
