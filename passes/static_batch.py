"""tensor (-1, H, W, C)  =>  tensor (1, H, W, C), on targets that run one sample at a time

Ethos-U (and TFLite Micro) take static shapes only; Vela would otherwise warn about every
tensor and fix the batch to 1 itself. Runs on targets whose `static_batch` is set; other
unknown dimensions (a variable sequence length) are left for the target's check to name.

    >>> StaticBatch().run(graph, ctx)  # image (-1, 8, 8, 1) -> CONV_2D -> (-1, 8, 8, 16)  =>  (1, 8, 8, 1) ... (1, 8, 8, 16)
"""

from __future__ import annotations

from qgraph.ir import Graph
from qgraph.pipeline import Pass, PassContext


class StaticBatch(Pass):
    name = "static_batch"
    phase = "legalize"

    def enabled(self, ctx: PassContext) -> bool:
        return ctx.target is not None and ctx.target.static_batch

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        fixed = 0
        for t in graph.tensors():
            if t.shape and t.shape[0] == -1 and not t.is_constant:
                t.shape = (1, *t.shape[1:])
                fixed += 1
        if fixed:
            target = ctx.target.name if ctx.target is not None else "?"
            ctx.log(
                f"batch dimension fixed to 1 in {fixed} tensors (target {target!r} runs one sample at a time)"
            )
        return fixed > 0
