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


def _zero(t: Tensor) -> np.ndarray | float:
    if t.quant is None or t.dtype not in ("int8", "uint8", "int16"):
        return 0.0
    zp = np.asarray(t.quant.zero_point)
    if zp.size <= 1:
        return float(zp.ravel()[0]) if zp.size else 0.0
    shape = [1] * t.data.ndim  # type: ignore[union-attr]
    shape[t.quant.axis or 0] = zp.size
    return zp.reshape(shape)


def _check(t: Tensor, c: WeightConstraint, layer: str) -> str:
    data = np.asarray(t.data)
    zero = _zero(t)
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
        rows = np.sort(np.moveaxis(data, axis, 0).reshape(data.shape[axis], -1), axis=1)
        per_channel = int((np.diff(rows, axis=1) != 0).sum(axis=1).max()) + 1  # TODO stats
        if per_channel > c.clustering.clusters:
            raise QGraphError(
                f"layer {layer!r}: an output channel of {t.name!r} has {per_channel} distinct values, more "
                f"than its {c.clustering.clusters} clusters: a pass lost the clustering (report this as a bug)"
            )
        parts.append(f"<= {per_channel} distinct per channel ({c.clustering.clusters} clusters)")
    return f"{layer} {t.name} {data.dtype}{list(data.shape)}: " + ", ".join(parts)
