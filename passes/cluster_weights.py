"""float weight W of CONV_2D|FULLY_CONNECTED|TRANSPOSE_CONV|GATHER (depthwise only when named)
    =>  nearest centroid of W, annotated `WeightConstraint(Clustering, centroids, latent=W)`

Runs for `qgraph.cluster` (mode "cluster"). Centroids start from the chosen init (k-means++
by default) per tensor, or per output channel with `per_channel`. `preserve_sparsity` keeps
a pruned weight's mask (from `qgraph.prune`, or its exact zeros) and pins one cluster at 0;
without it, clustering a pruned weight gives up its zeros, and the report says so.

    >>> ClusterWeights().run(graph, ctx)   # head_conv/kernel f32[32,3,3,32]: 16 clusters (kmeans++)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qgraph.compress.centroids import centroids_for
from qgraph.compress.constraints import Clustering, Pruning, WeightConstraint, constraint_of, set_constraint
from qgraph.compress.select import compressible_weights
from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext


class ClusterWeights(Pass):
    name = "cluster_weights"
    phase = "compress"
    modes = ("cluster",)
    options = (
        Option("select", object, None, "a predicate on an op: which ops are compressed (default: all)"),
        Option(
            "clustering", Clustering, None, "the clustering (clusters, init, per_channel, preserve_sparsity)"
        ),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        # keras.ops kernels: imported here, not at the top, so that listing the passes
        # (`qgraph passes`) does not import Keras and TensorFlow.
        from qgraph.compress.kernels import as_numpy, cluster_weights

        base: Clustering = ctx.option("clustering") or Clustering()
        clustered = sparse = 0
        for cw in compressible_weights(graph, ctx.option("select")):
            w, old = cw.tensor.data, constraint_of(cw.tensor)
            assert w is not None
            c = replace(base, axis=cw.output_axis)
            mask = old.mask if old is not None and old.mask is not None else None
            if c.preserve_sparsity:
                mask = (w != 0) if mask is None else mask & (w != 0)
                sparse += bool((~mask).any())
            elif mask is not None and not mask.all():
                ctx.log(
                    f"{cw.layer}: its pruning is not kept (cluster with preserve_sparsity=True to keep it)"
                )
                mask = None
            centroids = centroids_for(w, c, mask)
            effective = as_numpy(cluster_weights(w, centroids, c))
            pruning = None
            if mask is not None:  # the zeros stay, as a fixed mask
                effective = effective * mask
                pruning = Pruning(float(1 - mask.mean()), schedule="fixed", input_axis=cw.input_axis)
            cw.tensor.data = effective.astype(w.dtype)
            set_constraint(cw.tensor, WeightConstraint(pruning, c, mask=mask, centroids=centroids, latent=w))
            distinct = np.unique(effective).size
            ctx.log(
                f"{cw.layer} ({cw.op.type} {list(w.shape)}): {c.clusters} clusters"
                f"{' per channel' if c.per_channel else ''} ({c.init}), {distinct} distinct values"
                + (f", {1 - mask.mean():.1%} zeros kept" if mask is not None else "")
            )
            clustered += 1
        if not clustered:
            raise OptionError("no layer has weights to cluster (Conv, Dense, Embedding, attention kernels)")
        if base.preserve_sparsity and not sparse:
            raise OptionError(
                "preserve_sparsity=True, but no clustered weight has zeros to keep: prune the model "
                "first (qgraph.prune), or cluster without preserve_sparsity"
            )
        return True
