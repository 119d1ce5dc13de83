"""cluster_weights: nearest-centroid weights, annotated with centroids and latent weights."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.compress.constraints import Clustering, Pruning, constraint_of
from qgraph.errors import OptionError
from qgraph.passes.cluster_weights import ClusterWeights
from qgraph.passes.prune_weights import PruneWeights
from qgraph.pipeline import PassContext
from tests.passes.compress_graphs import conv_dw
from tests.passes.helpers import messages, run_pass


def cluster(g, **options):
    return run_pass(ClusterWeights(), g, PassContext(None, "cluster", options))


@pytest.mark.parametrize("per_channel", [False, True])
def test_weights_take_the_centroids_values_and_keep_their_latent(per_channel):
    g = conv_dw()
    latent = g.tensor("conv/filter").data.copy()
    _, ctx = cluster(g, clustering=Clustering(4, per_channel=per_channel))
    w, c = g.tensor("conv/filter").data, constraint_of(g.tensor("conv/filter"))
    np.testing.assert_array_equal(c.latent, latent)
    assert c.clustering.axis == 0 and c.centroids.shape == ((16, 4) if per_channel else (4,))
    if per_channel:
        assert all(set(np.unique(w[ch])) <= set(c.centroids[ch]) for ch in range(16))
        assert np.unique(w).size > 4
    else:
        assert set(np.unique(w)) <= set(c.centroids) and np.unique(w).size == 4
    assert constraint_of(g.tensor("dw/filter")) is None
    assert "4 clusters" in messages(ctx)[0]


def test_preserve_sparsity_keeps_the_mask_and_pins_a_zero():
    g = conv_dw()
    run_pass(PruneWeights(), g, PassContext(None, "prune", {"pruning": Pruning(0.5)}))
    mask = constraint_of(g.tensor("conv/filter")).mask
    cluster(g, clustering=Clustering(8, preserve_sparsity=True))
    w, c = g.tensor("conv/filter").data, constraint_of(g.tensor("conv/filter"))
    np.testing.assert_array_equal(c.mask, mask)
    assert (w[~mask] == 0).all() and (w[mask] != 0).all()
    assert np.unique(w).size == 8 and c.centroids.shape == (7,) and c.pruning.schedule == "fixed"


def test_clustering_a_pruned_weight_without_preserve_says_it_gives_up_the_zeros():
    g = conv_dw()
    run_pass(PruneWeights(), g, PassContext(None, "prune", {"pruning": Pruning(0.5)}))
    _, ctx = cluster(g, clustering=Clustering(8))
    assert "its pruning is not kept" in messages(ctx)[0]
    assert constraint_of(g.tensor("conv/filter")).mask is None


def test_preserve_sparsity_without_zeros_is_an_error():
    with pytest.raises(OptionError, match="no clustered weight has zeros to keep: prune the model first"):
        cluster(conv_dw(), clustering=Clustering(8, preserve_sparsity=True))
