"""A constrained weight times a per-channel factor (BatchNorm folding, a folded MUL): the
weight and its `WeightConstraint` move together, so the export check still sees what
pruning and clustering promised.

- The pruning mask is unchanged: 0 * f = 0.
- Clusters scale with the weight. A factor along the output channel turns one set of
  centroids into one set per channel (each channel still has at most `clusters` values, the
  count the int8 file keeps anyway); a uniform factor scales the one set. A factor that
  varies along any other axis would give a channel more values than clusters: refused, so
  the folding pass keeps its op instead (`rescale_reason`).

    >>> rescale_weights(graph, conv, 1, bn_scale, axis=0)   # stem/kernel: 16 clusters -> 16 per channel
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qgraph.compress.constraints import WeightConstraint, constraint_of, set_constraint
from qgraph.ir import Graph, Op
from qgraph.ir.layout import scale_channels
from qgraph.ops import op_facts

#: quantize modes whose model fine-tunes as the user built it: nothing folds into its weights.
TRAINS_AS_BUILT = ("prune", "cluster")


def folds_allowed(mode: str) -> bool:
    """Whether a pass may fold factors into weights in this quantize mode. Not while
    `qgraph.prune` / `qgraph.cluster` build their fine-tune model: it trains the user's kernels
    at their own scale, BatchNorm live (Adam's steps are absolute, so a kernel scaled by a
    folded Rescaling's 1/16 would move 16x faster for its size); `compile` folds afterwards."""
    return mode not in TRAINS_AS_BUILT


def rescaled(c: WeightConstraint, factor: np.ndarray, axis: int, output_axis: int) -> WeightConstraint | str:
    """`c` for the weight times `factor` (one value per slice along `axis`), or why the
    clustering cannot follow."""
    f = np.asarray(factor, np.float64).reshape(-1)
    clustering, centroids = c.clustering, c.centroids
    if clustering is not None and centroids is not None:
        table = centroids.astype(np.float64)
        if np.all(f == f[0]):
            table = table * f[0]
        elif axis == output_axis:
            if not clustering.per_channel:  # one shared set -> one scaled set per output channel
                table = np.broadcast_to(table, (f.size, table.size))
                clustering = replace(clustering, per_channel=True, axis=output_axis)
            table = table * f[:, None]
        else:
            return (
                f"its weights are clustered: a factor that differs along axis {axis} (not the output "
                "channel) would give a channel more values than its clusters"
            )
        centroids = table.astype(np.float32)
    latent = None if c.latent is None else scale_channels(c.latent, f, axis)
    return WeightConstraint(c.pruning, clustering, mask=c.mask, centroids=centroids, latent=latent)


def rescale_reason(
    graph: Graph, op: Op, port: int, factor: np.ndarray, axis: int, repeat: int = 1
) -> str | None:
    """Why `op`'s weight at `port` cannot be multiplied by `factor` along `axis`, or None."""
    c = constraint_of(graph.inputs_of(op)[port])
    if c is None:
        return None
    found = rescaled(c, np.repeat(factor, repeat), axis, _output_axis(op))
    return found if isinstance(found, str) else None


def rescale_weights(graph: Graph, op: Op, port: int, factor: np.ndarray, axis: int, repeat: int = 1) -> None:
    """`op` reads its weight at `port` times `factor` along `axis` (each value `repeat` times,
    for a depthwise multiplier), with its constraint carried along."""
    old = graph.inputs_of(op)[port]
    assert old.data is not None
    c = constraint_of(old)
    new = graph.replace_constant(op, port, scale_channels(old.data, factor, axis, repeat))
    if c is not None:
        carried = rescaled(c, np.repeat(np.asarray(factor, np.float64), repeat), axis, _output_axis(op))
        assert not isinstance(carried, str), carried  # the pass asked rescale_reason first
        set_constraint(new, carried)


def _output_axis(op: Op) -> int:
    axis = op_facts(op.type).output_channel_axis
    return 0 if axis is None else axis
