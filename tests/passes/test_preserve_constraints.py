"""preserve_constraints: which constraints QAT keeps, from annotations or from the weights."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.compress.constraints import Clustering, Pruning, constraint_of
from qgraph.errors import OptionError
from qgraph.passes.cluster_weights import ClusterWeights
from qgraph.passes.preserve_constraints import PreserveConstraints
from qgraph.passes.prune_weights import PruneWeights
from qgraph.pipeline import PassContext
from tests.passes.compress_graphs import conv_dw
from tests.passes.helpers import messages, run_pass


def pruned_and_clustered():
    g = conv_dw()
    run_pass(PruneWeights(), g, PassContext(None, "prune", {"pruning": Pruning(0.5)}))
    run_pass(
        ClusterWeights(),
        g,
        PassContext(None, "cluster", {"clustering": Clustering(8, preserve_sparsity=True)}),
    )
    return g


def preserve(g, value):
    return run_pass(PreserveConstraints(), g, PassContext(None, "qat", {"preserve": value}))


def test_by_default_qgraphs_own_constraints_are_kept_with_a_fixed_mask():
    g = pruned_and_clustered()
    _, ctx = preserve(g, None)
    c = constraint_of(g.tensor("conv/filter"))
    assert c.pruning.schedule == "fixed" and c.clustering.clusters == 8 and c.latent is not None
    assert "keeps pruned 50.0% (fixed mask), 8 clusters with a zero cluster" in messages(ctx)[0]


def test_asking_for_sparsity_only_drops_the_clusters():
    g = pruned_and_clustered()
    _, ctx = preserve(g, ("sparsity",))
    c = constraint_of(g.tensor("conv/filter"))
    assert c.clustering is None and c.mask is not None


def test_constraints_are_found_in_plain_weights_when_asked():
    g = conv_dw()
    w = g.tensor("conv/filter").data
    values = np.array([-0.3, -0.1, 0.2, 0.4], np.float32)
    w[...] = values[np.arange(w.size) % 4].reshape(w.shape)
    w[:, :, :, :2] = 0
    _, ctx = preserve(g, ("sparsity", "clusters"))
    c = constraint_of(g.tensor("conv/filter"))
    np.testing.assert_array_equal(c.mask, w != 0)
    assert c.clustering.preserve_sparsity and c.clustering.clusters == 5
    np.testing.assert_array_equal(c.centroids, values)
    assert constraint_of(g.tensor("dw/filter")) is None  # random weights: nothing to keep


def test_nothing_to_preserve_is_an_error_that_says_what_to_do():
    with pytest.raises(OptionError, match=r"no weight has sparsity to preserve; run qgraph.prune"):
        preserve(conv_dw(), ("sparsity",))
    with pytest.raises(OptionError, match=r"no weight has clusters to preserve; run qgraph.cluster"):
        preserve(conv_dw(), ("clusters",))
