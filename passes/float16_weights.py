"""float32 constant feeding an op  =>  float16 constant -> DEQUANTIZE -> float32

`quantize="float16"`: half the size, float32 compute (what TFLiteConverter writes with
`supported_types=[tf.float16]`); GPU delegates read the float16 weights directly. Integer
constants (shapes, axes, paddings) are left alone.

    >>> Float16Weights().run(graph, ctx)  # CONV_2D(x, w f32)  =>  CONV_2D(x, DEQUANTIZE(w f16))
"""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op, Tensor
from qgraph.pipeline import Pass, PassContext


class Float16Weights(Pass):
    name = "float16_weights"
    phase = "legalize"
    modes = ("float16",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        count = 0
        for t in [t for t in graph.tensors() if t.is_constant and t.dtype == "float32"]:
            assert t.data is not None
            half = graph.const(f"{t.name}/fp16", t.data.astype(np.float16))
            wide = graph.add_tensor(Tensor(f"{t.name}/dequantized", t.shape, "float32"))
            graph.replace_all_uses(t, wide)
            graph.add_op(Op(f"{t.name}/dequantize", "DEQUANTIZE"), [half], [wide])
            graph.remove_tensor(t)
            count += 1
        ctx.log(f"{count} constants stored as float16")
        return count > 0
