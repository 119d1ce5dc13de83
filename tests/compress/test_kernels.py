"""The pruning and clustering arithmetic shared by the passes and the trainable layers."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.compress.centroids import centroids_for, initial_centroids
from qgraph.compress.constraints import Clustering, Pruning
from qgraph.compress.kernels import as_numpy, cluster_weights, magnitude_mask, scheduled_sparsity, update_due

rng = np.random.default_rng(0)


@pytest.mark.parametrize("sparsity, size", [(0.5, 144), (0.5, 9), (0.8, 320), (0.0, 10)])
def test_magnitude_mask_prunes_at_least_the_sparsity_and_only_the_smallest(sparsity, size):
    w = rng.normal(size=size).astype(np.float32)
    mask = as_numpy(magnitude_mask(w, sparsity)) > 0.5
    assert (~mask).sum() == int(np.ceil(sparsity * size - 1e-6))
    if 0 < mask.sum() < size:
        assert np.abs(w[~mask]).max() < np.abs(w[mask]).min()


def test_m_by_n_keeps_the_m_largest_of_every_n_along_the_input_axis():
    w = rng.normal(size=(8, 3, 3, 8)).astype(np.float32)
    mask = as_numpy(magnitude_mask(w, 0.5, m_by_n=(2, 4), input_axis=3)) > 0.5
    groups, kept = np.abs(w).reshape(-1, 4), mask.reshape(-1, 4)
    assert (kept.sum(axis=1) == 2).all()
    assert (np.sort(groups, axis=1)[:, 2:] == np.sort(np.where(kept, groups, 0), axis=1)[:, 2:]).all()


def test_block_sparsity_prunes_whole_blocks_by_mean_magnitude():
    w = rng.normal(size=(10, 32)).astype(np.float32)
    mask = as_numpy(magnitude_mask(w, 0.5, block=(1, 16))) > 0.5
    blocks = mask.reshape(10, 2, 16)
    assert (blocks.all(axis=2) | ~blocks.any(axis=2)).all() and mask.mean() == 0.5
    means = np.abs(w).reshape(10, 2, 16).mean(axis=2)
    assert means[~blocks.any(axis=2)].max() < means[blocks.all(axis=2)].min()


def test_schedules():
    poly = Pruning(0.8, "polynomial", begin_step=10, end_step=110, frequency=10)
    values = [float(as_numpy(scheduled_sparsity(poly, s))) for s in (0, 10, 60, 110, 500)]
    assert values == pytest.approx([0.0, 0.0, 0.8 * (1 - 0.5**3), 0.8, 0.8], abs=1e-6)
    due = [bool(as_numpy(update_due(poly, s))) for s in (0, 10, 15, 20, 110, 120)]
    assert due == [False, True, False, True, True, False]
    constant = Pruning(0.5, begin_step=0, end_step=-1, frequency=100)
    assert [bool(as_numpy(update_due(constant, s))) for s in (0, 50, 100, 10_000)] == [
        True,
        False,
        True,
        True,
    ]


def test_clustering_maps_to_the_nearest_centroid_per_tensor_and_per_channel():
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    per_tensor = as_numpy(cluster_weights(w, np.array([-1.0, 0.0, 1.0], np.float32), Clustering(3)))
    np.testing.assert_array_equal(per_tensor, np.clip(np.round(w), -1, 1))
    table = np.array([[-2, 2], [-1, 1], [0.5, 0.6], [-0.1, 0.1]], np.float32)
    c = Clustering(3, per_channel=True, axis=0, preserve_sparsity=True)  # the mask adds the zero
    out = as_numpy(cluster_weights(w, table, c))
    for ch in range(4):
        allowed = table[ch]
        nearest = allowed[np.abs(w[ch][..., None] - allowed).argmin(-1)]
        np.testing.assert_array_equal(out[ch], nearest)


@pytest.mark.parametrize("init", ["kmeans++", "linear", "density", "random"])
def test_initial_centroids(init):
    values = np.concatenate([rng.normal(-1, 0.05, 500), rng.normal(1, 0.05, 500)]).astype(np.float32)
    c = initial_centroids(values, 4, init)
    assert c.shape == (4,) and c.dtype == np.float32 and (np.diff(c) >= 0).all()
    assert values.min() - 1e-6 <= c.min() and c.max() <= values.max() + 1e-6
    if init == "kmeans++":  # two groups of two around -1 and 1
        assert (np.abs(np.abs(c) - 1) < 0.2).all()


def test_fewer_distinct_values_than_clusters_and_preserved_zeros():
    np.testing.assert_array_equal(initial_centroids(np.array([1, 2, 2, 1]), 4, "kmeans++"), [1, 2, 2, 2])
    w = np.array([[0.0, 0.5, -0.5, 0.0], [0.0, 0.0, 2.0, 3.0]], np.float32)
    c = Clustering(3, per_channel=True, axis=0, preserve_sparsity=True)
    centroids = centroids_for(w, c)
    assert centroids.shape == (2, 2)  # 3 clusters: the pinned zero and 2 trained ones
    np.testing.assert_array_equal(centroids, [[-0.5, 0.5], [2.0, 3.0]])


def test_block_mask_reaches_the_sparsity_when_blocks_do_not_divide_the_shape():
    # 276 inputs in 1x16 blocks: the last block of each row holds 4 weights, not 16.
    w = np.random.default_rng(5).normal(size=(10, 276)).astype(np.float32)
    mask = np.asarray(magnitude_mask(w, 0.5, block=(1, 16)))
    assert 0.5 <= 1.0 - mask.mean() < 0.5 + 16 / w.size
    blocks = np.pad(mask, [(0, 0), (0, 12)], constant_values=-1).reshape(10, 18, 16)
    for row in blocks.reshape(-1, 16):
        assert len(set(row[row >= 0].tolist())) == 1  # whole blocks kept or pruned
