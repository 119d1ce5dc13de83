"""op left float in an int8 graph  =>  DEQUANTIZE before its int8 inputs, QUANTIZE after an output that int8 ops read

A QAT model may quantize only some layers (`quantize_model(..., layers=...)`): the rest
run in float. Where an int8 tensor enters a float op, a DEQUANTIZE gives it the float
value; where a float op's output has int8 parameters (an int8 op reads it, so QAT placed a
quantizer there), the op writes float and a QUANTIZE writes the int8 tensor.

    >>> InsertFloatBoundaries().run(graph, ctx)  # int8 CONV_2D -> float SOFTMAX  =>  CONV_2D -> DEQUANTIZE -> SOFTMAX
"""

from __future__ import annotations

from qgraph.ir import Graph, Op, Tensor
from qgraph.passes.quantize_weights import runs_in_int8
from qgraph.pipeline import Pass, PassContext


class InsertFloatBoundaries(Pass):
    name = "insert_float_boundaries"
    phase = "legalize"
    modes = ("int8",)
    before = ("insert_io_quantize",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        floats = [
            op
            for op in graph.ops()
            if not runs_in_int8(graph, op) and op.type not in ("QUANTIZE", "DEQUANTIZE")
        ]
        float_names = {op.name for op in floats}
        for op in floats:
            for port, t in enumerate(graph.inputs_of(op)):
                if not t.is_constant and t.quant is not None:
                    wide = graph.add_tensor(Tensor(f"{t.name}/float", t.shape, "float32"))
                    graph.add_op(Op(f"{op.name}/dequantize_{port}", "DEQUANTIZE"), [t], [wide])
                    graph.set_input(op, port, wide)
            out = graph.outputs_of(op)[0]
            readers = graph.consumers(out)
            if out.name not in graph.outputs and readers and all(r.name in float_names for r in readers):
                out.quant = None  # read by float ops only: no QUANTIZE/DEQUANTIZE pair inside a float island
            if out.quant is not None:
                wide = graph.add_tensor(Tensor(f"{out.name}/float", out.shape, "float32"))
                graph.set_output(op, 0, wide)
                graph.add_op(Op(f"{op.name}/quantize", "QUANTIZE"), [wide], [out])
            for t in graph.inputs_of(op)[1:]:
                t.quant = None  # float op: its constants stay float
        if floats:
            ctx.log(
                f"{len(floats)} ops run in float: "
                + ", ".join(op.name for op in floats[:8])
                + (" ..." if len(floats) > 8 else "")
            )
        return bool(floats)
