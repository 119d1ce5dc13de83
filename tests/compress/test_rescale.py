"""compress.rescale: a pruned / clustered weight times a per-channel factor keeps its mask,
and its clusters follow the factor (per output channel), or the rescale is refused."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.compress.constraints import Clustering, Pruning, WeightConstraint, constraint_of, set_constraint
from qgraph.compress.kernels import as_numpy, cluster_weights
from qgraph.compress.rescale import rescale_reason, rescale_weights, rescaled
from qgraph.ir import Graph
from tests.passes.helpers import act, conv2d, rng


def clustered_conv(per_channel: bool = False, preserve_sparsity: bool = False):
    """x -> conv (4 -> 3 channels) whose filter holds 4 clusters (and half zeros)."""
    g, r = Graph("clustered"), rng()
    x = act(g, "x", (-1, 5, 5, 4))
    conv, _ = conv2d(g, r, "conv", x, (-1, 5, 5, 3), 3)
    w = g.inputs_of(conv)[1]
    c = Clustering(4, per_channel=per_channel, axis=0, preserve_sparsity=preserve_sparsity)
    table = np.array([-0.5, -0.1, 0.2, 0.7], np.float32)[: c.trained_centroids]
    centroids = np.tile(table, (3, 1)) * np.array([[1.0], [2.0], [3.0]], np.float32) if per_channel else table
    latent = w.data.copy()
    mask = (np.arange(w.data.size).reshape(w.shape) % 2 == 0) if preserve_sparsity else None
    effective = as_numpy(cluster_weights(latent, centroids, c)) * (1 if mask is None else mask)
    w.data = effective.astype(np.float32)
    pruning = Pruning(0.5, "fixed") if mask is not None else None
    set_constraint(w, WeightConstraint(pruning, c, mask=mask, centroids=centroids, latent=latent))
    return g, conv


def distinct_per_channel(w: np.ndarray) -> int:
    return max(np.unique(row).size for row in w.reshape(w.shape[0], -1))


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_an_output_channel_factor_scales_the_clusters_per_channel(per_channel):
    g, conv = clustered_conv(per_channel)
    factor = np.array([0.5, -2.0, 3.0])
    rescale_weights(g, conv, 1, factor, axis=0)
    w = g.inputs_of(conv)[1]
    c = constraint_of(w)
    assert c is not None and c.clustering.per_channel and c.clustering.axis == 0
    assert c.centroids.shape == (3, 4)
    for ch in range(3):  # every value of a channel is one of that channel's scaled centroids
        assert set(np.unique(w.data[ch])) <= set(c.centroids[ch])
    # Training re-assigns the scaled latent weights to the same clusters: |f| |w - c| keeps the order.
    again = as_numpy(cluster_weights(c.latent, c.centroids, c.clustering))
    np.testing.assert_allclose(again, w.data, rtol=1e-6)
    assert distinct_per_channel(w.data) <= 4


def test_a_uniform_factor_keeps_one_set_of_centroids_and_the_mask():
    g, conv = clustered_conv(preserve_sparsity=True)
    before = constraint_of(g.inputs_of(conv)[1])
    rescale_weights(g, conv, 1, np.full(4, 0.25), axis=3)  # a Rescaling folded into the input
    c = constraint_of(g.inputs_of(conv)[1])
    assert not c.clustering.per_channel and c.centroids.shape == before.centroids.shape
    np.testing.assert_allclose(c.centroids, before.centroids * 0.25)
    np.testing.assert_array_equal(c.mask, before.mask)
    assert np.all(g.inputs_of(conv)[1].data[~c.mask] == 0)


def test_a_factor_varying_along_the_input_channel_is_refused_for_clusters_only():
    g, conv = clustered_conv()
    factor = np.array([1.0, 2.0, 3.0, 4.0])
    reason = rescale_reason(g, conv, 1, factor, axis=3)
    assert reason is not None and "clustered" in reason and "axis 3" in reason
    assert isinstance(rescaled(constraint_of(g.inputs_of(conv)[1]), factor, 3, 0), str)
    pruned_only = WeightConstraint(Pruning(0.5, "fixed"), mask=np.ones((3, 3, 3, 4), bool))
    kept = rescaled(pruned_only, factor, 3, 0)
    assert isinstance(kept, WeightConstraint)
    np.testing.assert_array_equal(kept.mask, pruned_only.mask)
