"""CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED with float weights of >= 1024 elements  =>  int8 per-channel weights, float activations

Dynamic-range quantization (`quantize="dynamic"`, TFLiteConverter's Optimize.DEFAULT
without data): weights are stored as symmetric int8 per output channel; the hybrid kernels
quantize activations on the fly. About 4x smaller, no calibration data. Small weight
tensors stay float, as in the converter (the integer kernels would gain nothing).

    >>> DynamicRange().run(graph, ctx)  # conv/kernel f32[32,3,3,32]  =>  i8[32,3,3,32] q(axis=0)
"""

from __future__ import annotations

from qgraph.ir import Graph
from qgraph.ops import op_facts
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.numerics import quantize, weight_params

MIN_ELEMENTS = 1024


class DynamicRange(Pass):
    name = "dynamic_range"
    phase = "legalize"
    modes = ("dynamic",)
    options = (Option("min_elements", int, MIN_ELEMENTS, "weight tensors with fewer elements stay float"),)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        count, skipped = 0, 0
        for op in graph.ops():
            if op_facts(op.type).output_channel_axis is None:
                continue
            w = graph.inputs_of(op)[1]
            if w.data is None or w.dtype != "float32":
                continue
            if w.data.size < ctx.option("min_elements"):
                skipped += 1
                continue
            w.quant = weight_params(w.data, op_facts(op.type).output_channel_axis)
            w.data, w.dtype = quantize(w.data, w.quant, "int8", narrow=True), "int8"
            if (
                op.type == "FULLY_CONNECTED"
            ):  # as the converter: the hybrid kernel quantizes inputs asymmetrically
                op.attrs["asymmetric_quantize_inputs"] = True
            count += 1
        ctx.log(
            f"int8 weights for {count} ops; {skipped} with fewer than {ctx.option('min_elements')} weights kept float"
        )
        return count > 0
