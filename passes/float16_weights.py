"""float32 constant feeding an op  =>  float16 constant -> DEQUANTIZE -> float32

`quantize="float16"`: half the size, float32 compute (what TFLiteConverter writes with
`supported_types=[tf.float16]`); GPU delegates read the float16 weights directly. Integer
constants (shapes, axes, paddings) are left alone. A constant with a value float16 cannot
hold (|x| > 65504, the largest float16) stays float32, with a warning naming it: float16
would turn it into inf (and the output into inf or NaN).

    >>> Float16Weights().run(graph, ctx)  # CONV_2D(x, w f32)  =>  CONV_2D(x, DEQUANTIZE(w f16))
"""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op, Tensor
from qgraph.notices import warn
from qgraph.pipeline import Pass, PassContext

#: the largest finite float16 (65504): a larger magnitude becomes inf.
FLOAT16_MAX = float(np.finfo(np.float16).max)


class Float16Weights(Pass):
    name = "float16_weights"
    phase = "legalize"
    modes = ("float16",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        count = 0
        kept: list[str] = []
        for t in [t for t in graph.tensors() if t.is_constant and t.dtype == "float32"]:
            assert t.data is not None
            finite = t.data[np.isfinite(t.data)]
            if finite.size and float(np.abs(finite).max()) > FLOAT16_MAX:
                kept.append(f"{t.name} (max |x| {float(np.abs(finite).max()):.4g})")
                continue
            half = graph.const(f"{t.name}/fp16", t.data.astype(np.float16))
            wide = graph.add_tensor(Tensor(f"{t.name}/dequantized", t.shape, "float32"))
            graph.replace_all_uses(t, wide)
            graph.add_op(Op(f"{t.name}/dequantize", "DEQUANTIZE"), [half], [wide])
            graph.remove_tensor(t)
            count += 1
        ctx.log(f"{count} constants stored as float16")
        if kept:
            warn(
                graph,
                ctx,
                f"{len(kept)} constants kept in float32: values beyond float16's range (|x| > 65504) "
                f"would become inf: {', '.join(kept[:4])}" + (" ..." if len(kept) > 4 else ""),
            )
        return count > 0
