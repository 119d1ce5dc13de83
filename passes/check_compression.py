"""pruned / clustered weights as written  =>  unchanged; a report line per weight, or an error

Runs last on the weights (after `materialize_int8` / `dynamic_range`, before float16
storage, which keeps zeros and can only merge values): every weight the mask pruned must be
exactly zero (the zero point, for an int8 tensor), and each output channel of a clustered
weight must hold at most `clusters` distinct values (per-channel int8 scales turn one set of
float centroids into a different int8 set per channel, so channels are what is counted).
A constraint a pass lost is an error that names the layer, never a silently denser file.

    >>> CheckCompression().run(graph, ctx)  # stem: 50.0% zeros (mask 50.0%), <= 8 distinct per channel
"""

from __future__ import annotations

import numpy as np

from qgraph.compress.constraints import WeightConstraint, constraint_of
from qgraph.compress.stats import tensor_stats, zero_of
from qgraph.errors import QGraphError
from qgraph.ir import Graph, Tensor
from qgraph.pipeline import Pass, PassContext


class CheckCompression(Pass):
    name = "check_compression"
    phase = "legalize"
    after = ("materialize_int8", "dynamic_range")
    before = ("float16_weights",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        for op in graph.ops():
            for t in graph.inputs_of(op):
                c = constraint_of(t)
                if c is not None and t.data is not None:
                    ctx.log(_check(t, c, str(op.meta.get("layer", op.name))))
        return False


def _check(t: Tensor, c: WeightConstraint, layer: str) -> str:
    data = np.asarray(t.data)
    zero = zero_of(t)
    parts = []
    if c.mask is not None:
        pruned = ~np.asarray(c.mask)
        nonzero = int(np.count_nonzero((data != zero) & pruned))
        if nonzero:
            raise QGraphError(
                f"layer {layer!r}: {nonzero} of its {int(pruned.sum())} pruned weights in {t.name!r} are "
                "not zero in the exported weights: a pass lost the pruning (report this as a bug)"
            )
        parts.append(f"{np.mean(data == zero):.1%} zeros (mask {pruned.mean():.1%})")
    if c.clustering is not None:
        axis = t.quant.axis if t.quant is not None and t.quant.axis is not None else c.clustering.axis
        per_channel = tensor_stats(data, axis, zero)[2]
        if per_channel > c.clustering.clusters:
            raise QGraphError(
                f"layer {layer!r}: an output channel of {t.name!r} has {per_channel} distinct values, more "
                f"than its {c.clustering.clusters} clusters: a pass lost the clustering (report this as a bug)"
            )
        parts.append(f"<= {per_channel} distinct per channel ({c.clustering.clusters} clusters)")
    return f"{layer} {t.name} {data.dtype}{list(data.shape)}: " + ", ".join(parts)
