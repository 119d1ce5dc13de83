"""weight constraints of a pruned / clustered model  =>  the constraints QAT keeps training
with (PQAT, CQAT, PCQAT): masks fixed, centroids trainable; the rest cleared.

Runs for `quantize_model` (mode "qat"). `preserve` None keeps what qgraph's own layers carry
(`qgraph.prune`, `qgraph.cluster`); ("sparsity",) and ("clusters",) keep those, and find them
in any model's weights when no annotation says so: the exact zeros become a fixed mask, a
weight with at most 256 distinct values becomes clusters of those values. Asking to preserve
what no weight has is an error: it names what to do first.

    >>> PreserveConstraints().run(graph, ctx)   # stem/kernel: 50.0% pruned (fixed mask), 8 clusters
"""

from __future__ import annotations

import numpy as np

from qgraph.compress.constraints import Clustering, Pruning, WeightConstraint, constraint_of, set_constraint
from qgraph.compress.select import CompressibleWeight, compressible_weights
from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext

#: at most this many distinct values in a weight read as clusters (int8 has 256).
MAX_CLUSTERS = 256
PRESERVABLE = ("sparsity", "clusters")


class PreserveConstraints(Pass):
    name = "preserve_constraints"
    phase = "compress"
    modes = ("qat",)
    options = (
        Option(
            "preserve", object, None, "constraints QAT keeps: 'sparsity', 'clusters' (None: those qgraph set)"
        ),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        asked = ctx.option("preserve")
        wanted = set(PRESERVABLE) if asked is None else set(asked)
        found = {"sparsity": 0, "clusters": 0}
        changed = False
        for cw in compressible_weights(graph, lambda op: True):
            old = constraint_of(cw.tensor)
            mask = _mask(cw, old, derive=asked is not None) if "sparsity" in wanted else None
            clustering, centroids = (None, None)
            if "clusters" in wanted:
                clustering, centroids = _clusters(cw, old, mask, derive=asked is not None)
            if clustering is not None and clustering.preserve_sparsity and mask is None:
                mask = _mask(cw, old, derive=True)  # its zero cluster is the pruning mask
            found["sparsity"] += mask is not None
            found["clusters"] += clustering is not None
            new = None
            if mask is not None or clustering is not None:
                pruning = (
                    Pruning(float(1 - mask.mean()), "fixed", input_axis=cw.input_axis)
                    if mask is not None
                    else None
                )
                latent = old.latent if old is not None and clustering is not None else None
                new = WeightConstraint(pruning, clustering, mask=mask, centroids=centroids, latent=latent)
                ctx.log(f"{cw.layer} ({cw.op.type}): keeps {new.describe()}")
            elif old is not None:
                ctx.log(f"{cw.layer}: {old.describe()} not preserved (preserve={tuple(sorted(wanted))})")
            changed |= new is not None or old is not None
            set_constraint(cw.tensor, new)
        for what in sorted(wanted & set(asked or ())):
            if not found[what]:
                first = "qgraph.prune" if what == "sparsity" else "qgraph.cluster"
                raise OptionError(
                    f"preserve={tuple(asked)!r}: no weight has {what} to preserve; run {first} "
                    f"(and fine-tune) first, or leave {what!r} out"
                )
        return changed


def _mask(cw: CompressibleWeight, old: WeightConstraint | None, derive: bool) -> np.ndarray | None:
    data = cw.tensor.data
    assert data is not None
    if old is not None and old.mask is not None:
        return np.asarray(old.mask) & (data != 0)
    zeros = data == 0
    return ~zeros if derive and zeros.any() else None


def _clusters(
    cw: CompressibleWeight, old: WeightConstraint | None, mask: np.ndarray | None, derive: bool
) -> tuple[Clustering | None, np.ndarray | None]:
    if old is not None and old.clustering is not None:
        return old.clustering, old.centroids
    data = cw.tensor.data
    assert data is not None
    values = np.unique(data[mask] if mask is not None else data)
    # A weight read as clusters has few values, and far fewer than it has elements.
    if not derive or values.size > MAX_CLUSTERS or 2 * values.size > data.size:
        return None, None
    preserve = mask is not None
    trained = values[values != 0] if preserve else values
    c = Clustering(len(trained) + preserve, axis=cw.output_axis, preserve_sparsity=preserve, init="found")
    return c, trained.astype(np.float32)
