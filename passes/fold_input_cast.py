"""uint8/int8 input -> CAST -> float -> QUANTIZE -> int8  =>  uint8/int8 input (scale 1, zero point 0) -> QUANTIZE -> int8

A model that takes raw integers (`keras.Input((224, 224, 3), dtype="uint8")`, pixels) reads
them through a CAST to float (the frontend writes it where Keras promotes the input). In an
int8 graph that CAST has no integer kernel, so `insert_float_boundaries` quantizes its float
output again. The integers are already quantized values, with scale 1 and zero point 0:
one QUANTIZE (a requantize, which every int8 target runs, the EdgeTPU included) does both
steps, and the file keeps the input type the model declared. An int32 input keeps its CAST
(QUANTIZE takes no int32).

    >>> FoldInputCast().run(graph, ctx)  # image u8 -> CAST -> QUANTIZE -> i8  =>  image u8 (1, 0) -> QUANTIZE -> i8
"""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, QuantParams
from qgraph.pipeline import Pass, PassContext


class FoldInputCast(Pass):
    name = "fold_input_cast"
    phase = "legalize"
    modes = ("int8",)
    after = ("insert_float_boundaries",)
    before = ("insert_io_quantize",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        folded = 0
        for name in graph.inputs:
            x = graph.tensor(name)
            if x.dtype not in ("uint8", "int8") or x.quant is not None:
                continue
            here = 0
            for cast in [op for op in graph.consumers(x) if op.type == "CAST"]:
                wide = graph.outputs_of(cast)[0]
                readers = graph.consumers(wide)
                if graph.is_graph_output(wide) or not readers or any(r.type != "QUANTIZE" for r in readers):
                    ctx.log(f"kept {cast.name}: its float output is read in float")
                    continue
                for reader in readers:
                    graph.set_input(reader, 0, x)
                graph.remove_op(cast)
                here += 1
            if here:
                # A CAST left beside them reads the raw integers: it ignores the parameters.
                x.quant = QuantParams(np.ones(1, np.float32), np.zeros(1, np.int64), dtype=x.dtype)
                ctx.log(f"input {name}: {x.dtype} as given (scale 1, zero point 0); QUANTIZE requantizes it")
            folded += here
        return folded > 0
