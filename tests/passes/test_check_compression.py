"""check_compression: the written weights keep every zero and cluster, or compile fails."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.compress.constraints import Clustering, Pruning, WeightConstraint, constraint_of, set_constraint
from qgraph.errors import QGraphError
from qgraph.ir import QuantParams
from qgraph.passes.check_compression import CheckCompression
from qgraph.passes.cluster_weights import ClusterWeights
from qgraph.passes.prune_weights import PruneWeights
from qgraph.pipeline import PassContext
from tests.passes.compress_graphs import conv_dw
from tests.passes.helpers import messages, run_pass


def test_reports_zeros_and_distinct_values_per_layer():
    g = conv_dw()
    run_pass(PruneWeights(), g, PassContext(None, "prune", {"pruning": Pruning(0.5)}))
    run_pass(
        ClusterWeights(),
        g,
        PassContext(None, "cluster", {"clustering": Clustering(4, preserve_sparsity=True)}),
    )
    _, ctx = run_pass(CheckCompression(), g)
    assert messages(ctx) == [
        "conv conv/filter float32[16, 3, 3, 8]: 50.0% zeros (mask 50.0%), <= 4 distinct per channel (4 clusters)"
    ]


def test_int8_weights_are_checked_against_their_zero_point_per_channel():
    g = conv_dw()
    t = g.tensor("conv/filter")
    q = np.where(np.arange(t.data.size).reshape(t.shape) % 2 == 0, 0, 5).astype(np.int8)
    t.data, t.dtype = q, "int8"
    t.quant = QuantParams(np.full(16, 0.1, np.float32), np.zeros(16, np.int64), axis=0)
    set_constraint(t, WeightConstraint(Pruning(0.5, "fixed"), Clustering(2), mask=q != 0))
    _, ctx = run_pass(CheckCompression(), g)
    assert "<= 2 distinct per channel" in messages(ctx)[0]


def test_a_lost_zero_or_cluster_is_an_error_naming_the_layer():
    g = conv_dw()
    run_pass(PruneWeights(), g, PassContext(None, "prune", {"pruning": Pruning(0.5)}))
    t = g.tensor("conv/filter")
    t.data = t.data + 1e-3  # a pass that forgot the mask
    with pytest.raises(QGraphError, match=r"layer 'conv': 576 of its 576 pruned weights .* are not zero"):
        run_pass(CheckCompression(), g)
    g = conv_dw()
    run_pass(ClusterWeights(), g, PassContext(None, "cluster", {"clustering": Clustering(4)}))
    t = g.tensor("conv/filter")
    t.data = t.data * np.linspace(
        1, 2, t.data.shape[-1], dtype=np.float32
    )  # an input-channel scale folded in
    assert constraint_of(t) is not None
    with pytest.raises(
        QGraphError, match=r"an output channel of 'conv/filter' has \d+ distinct values, more than its 4"
    ):
        run_pass(CheckCompression(), g)
