"""fold_batchnorm: CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED -> BATCH_NORM folds into the
weights; a BatchNorm with nothing to fold into becomes MUL + ADD."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.ir import Graph, Op
from qgraph.passes.fold_batchnorm import FoldBatchNorm
from tests.passes.helpers import (
    act,
    assert_same_numerics,
    batch_norm,
    conv2d,
    dense,
    depthwise,
    messages,
    op_types,
    rng,
    run_pass,
    unary,
)


def _graph(kind: str, fused: str = "NONE"):
    """x -> conv (3->4 ch) | depthwise (3 ch x multiplier 2) | dense (5->4) -> BATCH_NORM -> RELU6 -> y."""
    g, r = Graph(f"{kind}_bn"), rng()
    x = act(g, "x", (-1, 5) if kind == "dense" else (-1, 6, 6, 3))
    producer, p_out = {
        "conv": lambda: conv2d(g, r, "conv", x, (-1, 6, 6, 4), 4, fused=fused),
        "depthwise": lambda: depthwise(g, r, "dw", x, (-1, 6, 6, 6), multiplier=2, fused=fused),
        "dense": lambda: dense(g, r, "fc", x, 4, fused=fused),
    }[kind]()
    _, bn_out = batch_norm(g, r, "bn", p_out)
    _, y = unary(g, "relu6", "RELU6", bn_out)
    g.inputs, g.outputs = ["x"], [y.name]
    return g, producer


@pytest.mark.parametrize(
    ("kind", "op_type"),
    [("conv", "CONV_2D"), ("depthwise", "DEPTHWISE_CONV_2D"), ("dense", "FULLY_CONNECTED")],
)
def test_bn_folds_into_producer(kind, op_type):
    g, producer = _graph(kind)
    before = g.copy()
    old_w = g.inputs_of(producer)[1].data.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == [op_type, "RELU6"]
    assert g.outputs_of(producer)[0].name == "bn:0"
    assert producer.attrs["fused"] == "NONE"
    assert not any(n.startswith("bn/") for n in g.nx)  # gamma/beta/mean/variance are gone
    assert not np.allclose(g.inputs_of(producer)[1].data, old_w)
    assert np.array_equal(before.inputs_of(producer.name)[1].data, old_w)  # not edited in place
    assert messages(ctx) == ["folded bn"]
    g.lint()
    assert_same_numerics(before, g)


def test_standalone_bn_on_graph_input_lowered_to_mul_add():
    g, r = Graph("bn_only"), rng()
    x = act(g, "x", (-1, 4, 4, 3))
    _, y = batch_norm(g, r, "bn", x)
    g.inputs, g.outputs = ["x"], [y.name]
    before = g.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == ["MUL", "ADD"]
    mul, add = g.ops()
    assert g.inputs_of(mul)[0].name == "x" and g.outputs_of(add)[0].name == "bn:0"
    assert mul.attrs["fused"] == add.attrs["fused"] == "NONE"
    assert g.inputs_of(mul)[1].shape == g.inputs_of(add)[1].shape == (3,)
    assert messages(ctx) == [
        "lowered bn to MUL+ADD: its input comes from a graph input, not a conv or dense op"
    ]
    g.lint()
    assert_same_numerics(before, g)


def test_bn_not_folded_when_conv_output_also_feeds_another_op():
    g, producer = _graph("conv")
    relu_out = act(g, "relu:0", (-1, 6, 6, 4))
    g.add_op(Op("relu", "RELU"), [g.tensor("conv:0")], [relu_out])
    g.outputs.append("relu:0")
    before = g.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == ["CONV_2D", "RELU", "MUL", "ADD", "RELU6"]
    assert messages(ctx) == ["lowered bn to MUL+ADD: conv's output is also read elsewhere"]
    g.lint()
    assert_same_numerics(before, g)


def test_bn_not_folded_when_conv_output_is_graph_output():
    g, producer = _graph("conv")
    g.outputs.append("conv:0")
    before = g.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == ["CONV_2D", "MUL", "ADD", "RELU6"]
    assert messages(ctx) == ["lowered bn to MUL+ADD: conv's output is also read elsewhere"]
    g.lint()
    assert_same_numerics(before, g)


def test_bn_not_folded_when_conv_has_fused_activation():
    g, producer = _graph("conv", fused="RELU")
    before = g.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == ["CONV_2D", "MUL", "ADD", "RELU6"]
    assert producer.attrs["fused"] == "RELU"
    assert messages(ctx) == ["lowered bn to MUL+ADD: conv already has fused RELU"]
    g.lint()
    assert_same_numerics(before, g)


def test_bn_not_folded_when_input_comes_from_an_activation():
    g, r = Graph("relu_bn"), rng()
    x = act(g, "x", (-1, 4, 4, 3))
    _, h = unary(g, "relu", "RELU", x)
    _, y = batch_norm(g, r, "bn", h)
    g.inputs, g.outputs = ["x"], [y.name]
    before = g.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == ["RELU", "MUL", "ADD"]
    assert messages(ctx) == ["lowered bn to MUL+ADD: its input comes from RELU, not a conv or dense op"]
    g.lint()
    assert_same_numerics(before, g)


def test_bn_folds_into_two_convs_sharing_one_filter():
    g, r = Graph("shared"), rng()
    x = act(g, "x", (-1, 6, 6, 3))
    conv_a, a = conv2d(g, r, "a", x, (-1, 6, 6, 4), 4)
    conv_b, b = conv2d(g, r, "b", x, (-1, 6, 6, 4), 4)
    g.set_input(conv_b, 1, g.inputs_of(conv_a)[1])  # both read a/filter
    g.remove_tensor(g.tensor("b/filter"))
    _, ya = batch_norm(g, r, "bn_a", a)
    _, yb = batch_norm(g, r, "bn_b", b)
    g.inputs, g.outputs = ["x"], [ya.name, yb.name]
    before = g.copy()
    changed, ctx = run_pass(FoldBatchNorm(), g)
    assert changed
    assert op_types(g) == ["CONV_2D", "CONV_2D"]
    assert messages(ctx) == ["folded bn_a", "folded bn_b"]
    assert g.inputs_of(conv_a)[1] is not g.inputs_of(conv_b)[1]
    assert "a/filter" not in g.nx  # the shared original is dropped once no one reads it
    g.lint()
    assert_same_numerics(before, g)


def test_bn_folded_into_a_clustered_conv_keeps_the_clusters_per_channel():
    from qgraph.compress.constraints import Clustering, constraint_of
    from qgraph.passes.check_compression import CheckCompression
    from qgraph.passes.cluster_weights import ClusterWeights
    from qgraph.pipeline import PassContext

    g, conv = _graph("conv")
    run_pass(ClusterWeights(), g, PassContext(None, "cluster", {"clustering": Clustering(4)}))
    assert np.unique(g.inputs_of(conv)[1].data).size <= 4  # one set for the whole tensor
    before = g.copy()
    run_pass(FoldBatchNorm(), g)
    w = g.inputs_of(conv)[1]
    c = constraint_of(w)
    assert c is not None and c.clustering.per_channel and c.centroids.shape == (4, 4)
    assert np.unique(w.data).size > 4  # each channel scaled by its own gamma / sqrt(var)
    _, ctx = run_pass(CheckCompression(), g)
    assert messages(ctx) == ["conv conv/filter_1 float32[4, 3, 3, 3]: <= 4 distinct per channel (4 clusters)"]
    assert_same_numerics(before, g)


@pytest.mark.parametrize("mode", ["prune", "cluster"])
def test_bn_and_constant_scales_stay_while_pruning_or_clustering_fine_tunes(mode):
    from qgraph.passes.fold_constant_scale import FoldConstantScale
    from qgraph.pipeline import PassContext

    for folding in (FoldBatchNorm(), FoldConstantScale()):
        assert not folding.enabled(PassContext(None, mode, {}))
        assert folding.enabled(PassContext(None, "int8", {})) and folding.enabled(
            PassContext(None, "qat", {})
        )
