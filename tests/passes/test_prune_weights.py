"""prune_weights: masks at the schedule's step-0 sparsity, annotated; depthwise left alone."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.compress.constraints import Pruning, constraint_of
from qgraph.errors import OptionError
from qgraph.passes.prune_weights import PruneWeights
from qgraph.pipeline import PassContext
from tests.passes.compress_graphs import conv_dw, dense_only
from tests.passes.helpers import messages, run_pass


def prune(g, **options):
    return run_pass(PruneWeights(), g, PassContext(None, "prune", options))


def test_conv_is_pruned_and_annotated_depthwise_is_not():
    g = conv_dw()
    before = g.tensor("conv/filter").data.copy()
    changed, ctx = prune(g, pruning=Pruning(0.5))
    w, c = g.tensor("conv/filter").data, constraint_of(g.tensor("conv/filter"))
    assert changed and np.mean(w == 0) == 0.5 and c.mask is not None
    np.testing.assert_array_equal(w, np.where(c.mask, before, 0))
    assert constraint_of(g.tensor("dw/filter")) is None and np.all(g.tensor("dw/filter").data != 0)
    assert "conv (CONV_2D [16, 3, 3, 8]): 50.0% pruned now, constant 50% from step 0" in messages(ctx)[0]


def test_a_named_depthwise_layer_is_pruned():
    g = conv_dw()
    prune(g, pruning=Pruning(0.5), select=lambda op: op.name == "dw")
    assert constraint_of(g.tensor("dw/filter")) is not None and constraint_of(g.tensor("conv/filter")) is None


def test_polynomial_starts_at_its_initial_sparsity():
    g = conv_dw()
    prune(g, pruning=Pruning(0.8, "polynomial", 0, 100, initial_sparsity=0.25))
    assert np.mean(g.tensor("conv/filter").data == 0) == pytest.approx(0.25, abs=0.01)


def test_2_by_4_and_block_sparsity_and_what_does_not_fit():
    g = conv_dw()
    prune(g, pruning=Pruning(0.5, m_by_n=(2, 4)))
    groups = g.tensor("conv/filter").data.reshape(-1, 4)
    assert ((groups == 0).sum(axis=1) == 2).all()
    with pytest.raises(OptionError, match="left fc dense: 30 input channels are not a multiple of 4"):
        prune(dense_only(units=8, inputs=30), pruning=Pruning(0.5, m_by_n=(2, 4)))
    g = conv_dw()
    _, ctx = prune(g, pruning=Pruning(0.5, block=(1, 4)))
    assert "element by element: block sparsity is for 2-D weights" in messages(ctx)[0]
    g = dense_only()
    prune(g, pruning=Pruning(0.5, block=(1, 16)))
    blocks = g.tensor("fc/weights").data.reshape(32, 4, 16) == 0
    assert (blocks.all(axis=2) | ~blocks.any(axis=2)).all()


def test_nothing_to_prune_is_an_error():
    with pytest.raises(OptionError, match="no layer has weights to prune"):
        prune(conv_dw(), pruning=Pruning(0.5), select=lambda op: False)
