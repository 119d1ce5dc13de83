"""fold_constant_scale: constant MUL/ADD folded into conv/dense weights and bias."""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.passes.fold_constant_scale import FoldConstantScale
from tests.passes.helpers import (
    act,
    assert_same_numerics,
    conv2d,
    dense,
    depthwise,
    messages,
    op_types,
    rng,
    run_pass,
)


def binary(g, name, op_type, x, const, shape=None):
    y = act(g, f"{name}:0", shape or x.shape)
    g.add_op(
        Op(name, op_type, {"fused": "NONE"}), [x, g.const(f"{name}/c", np.asarray(const, np.float32))], [y]
    )
    return y


def test_rescaling_mul_folds_into_the_following_conv():
    g, r = Graph("rescale_conv"), rng()
    x = act(g, "x", (-1, 6, 6, 3))
    scaled = binary(g, "rescale", "MUL", x, 1.0 / 16.0)
    conv2d(g, r, "conv", scaled, (-1, 6, 6, 4), 4, padding="SAME")
    g.inputs, g.outputs = ["x"], ["conv:0"]
    before = g.copy()
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert changed and op_types(g) == ["CONV_2D"] and messages(ctx) == ["folded rescale (MUL by a constant)"]
    assert_same_numerics(before, g)


def test_per_channel_mul_folds_into_depthwise_with_multiplier():
    g, r = Graph("dw"), rng()
    x = act(g, "x", (-1, 5, 5, 3))
    scaled = binary(g, "scale", "MUL", x, [0.5, 2.0, -1.0])
    depthwise(g, r, "dw", scaled, (-1, 5, 5, 6), multiplier=2)
    g.inputs, g.outputs = ["x"], ["dw:0"]
    before = g.copy()
    run_pass(FoldConstantScale(), g)
    assert op_types(g) == ["DEPTHWISE_CONV_2D"]
    assert_same_numerics(before, g)


def test_mul_and_add_after_conv_fold_into_weights_and_bias():
    g, r = Graph("bn_like"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, y = conv2d(g, r, "conv", x, (-1, 4, 4, 3), 3)
    y = binary(g, "mul", "MUL", y, [1.5, -0.5, 2.0])
    binary(g, "add", "ADD", y, [0.1, 0.2, 0.3])
    g.inputs, g.outputs = ["x"], ["add:0"]
    before = g.copy()
    run_pass(FoldConstantScale(), g)
    assert op_types(g) == ["CONV_2D"]
    assert_same_numerics(before, g)


def test_scalar_mul_before_flattening_dense_folds_but_per_channel_does_not():
    for const, folds in ((0.25, True), ([1.0, 2.0], False)):
        g, r = Graph("fc"), rng()
        x = act(g, "x", (-1, 3, 2))
        scaled = binary(g, "scale", "MUL", x, const)
        dense(g, r, "fc", scaled, 4)
        g.inputs, g.outputs = ["x"], [g.outputs_of(g.op("fc"))[0].name]
        g.op("fc").attrs["keep_num_dims"] = False
        g.outputs_of(g.op("fc"))[0].shape = (-1, 4)
        g.inputs_of(g.op("fc"))[1].data = r.uniform(-1, 1, (4, 6)).astype(np.float32)
        g.inputs_of(g.op("fc"))[1].shape = (4, 6)
        before = g.copy()
        run_pass(FoldConstantScale(), g)
        assert op_types(g) == (["FULLY_CONNECTED"] if folds else ["MUL", "FULLY_CONNECTED"])
        assert_same_numerics(before, g)


# Every refusal is logged with its reason, naming the op at fault.


def test_refused_when_conv_output_is_read_elsewhere_logs_both_directions():
    g, r = Graph("shared"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, y = conv2d(g, r, "conv", x, (-1, 4, 4, 3), 3)
    binary(g, "mul", "MUL", y, 2.0)
    g.inputs, g.outputs = ["x"], ["mul:0", "conv:0"]
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed and op_types(g) == ["CONV_2D", "MUL"]
    assert messages(ctx) == [
        "kept mul: not into its producer (conv's output is also read elsewhere), "
        "nor into its reader (mul's output is read by more than one op, or is a graph output)"
    ]


def test_refused_when_mul_has_no_constant_operand():
    g, r = Graph("two_acts"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, y = conv2d(g, r, "conv", x, (-1, 4, 4, 2), 2)
    out = act(g, "sq:0", y.shape)
    g.add_op(Op("sq", "MUL", {"fused": "NONE"}), [y, x], [out])
    g.inputs, g.outputs = ["x"], ["sq:0"]
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed and op_types(g) == ["CONV_2D", "MUL"]
    assert messages(ctx) == ["kept sq: sq has no constant operand"]


def test_refused_when_the_add_carries_a_fused_activation():
    g, r = Graph("fused_add"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, y = conv2d(g, r, "conv", x, (-1, 4, 4, 3), 3)
    binary(g, "add", "ADD", y, [0.1, 0.2, 0.3])
    g.op("add").attrs["fused"] = "RELU"  # the clamp sits between the ADD and anything after it
    g.inputs, g.outputs = ["x"], ["add:0"]
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed and op_types(g) == ["CONV_2D", "ADD"]
    assert messages(ctx) == ["kept add: add already has fused RELU"]


def test_refused_when_the_producer_carries_a_fused_activation():
    g, r = Graph("fused_conv"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, y = conv2d(g, r, "conv", x, (-1, 4, 4, 3), 3, fused="RELU6")
    binary(g, "add", "ADD", y, 0.5)
    g.inputs, g.outputs = ["x"], ["add:0"]
    before = g.copy()
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed and messages(ctx) == ["kept add: conv already has fused RELU6"]
    assert_same_numerics(before, g)


def test_refused_when_the_constant_runs_along_another_axis():
    g, r = Graph("width_scale"), rng()
    x = act(g, "x", (-1, 3, 3, 2))
    _, y = conv2d(g, r, "conv", x, (-1, 3, 3, 3), 3)
    binary(g, "add", "ADD", y, [[0.1], [0.2], [0.3]])  # (3, 1): one value per column, not channel
    g.inputs, g.outputs = ["x"], ["add:0"]
    before = g.copy()
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed and op_types(g) == ["CONV_2D", "ADD"]
    assert messages(ctx) == [
        "kept add: add's constant of shape (3, 1) does not run along the channel (last) axis"
    ]
    assert_same_numerics(before, g)


def test_refused_per_channel_mul_before_a_flattening_dense_says_why():
    g, r = Graph("fc"), rng()
    x = act(g, "x", (-1, 3, 2))
    scaled = binary(g, "scale", "MUL", x, [1.0, 2.0])
    dense(g, r, "fc", scaled, 4)
    fc = g.op("fc")
    fc.attrs["keep_num_dims"] = False
    g.outputs_of(fc)[0].shape = (-1, 4)
    g.inputs_of(fc)[1].data = r.uniform(-1, 1, (4, 6)).astype(np.float32)
    g.inputs_of(fc)[1].shape = (4, 6)
    g.inputs, g.outputs = ["x"], [g.outputs_of(fc)[0].name]
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed
    assert messages(ctx) == [
        "kept scale: not into its producer (its input comes from a graph input, not a conv or dense op), "
        "nor into its reader (fc flattens its input: only a scalar folds into its weights)"
    ]


def test_a_per_channel_mul_does_not_fold_into_a_clustered_conv_but_a_scalar_does():
    from qgraph.compress.constraints import Clustering, constraint_of
    from qgraph.passes.cluster_weights import ClusterWeights
    from qgraph.pipeline import PassContext

    def graph(const):
        g, r = Graph("clustered_reader"), rng()
        x = act(g, "x", (-1, 6, 6, 3))
        conv, _ = conv2d(g, r, "conv", binary(g, "scale", "MUL", x, const), (-1, 6, 6, 4), 4)
        g.inputs, g.outputs = ["x"], ["conv:0"]
        run_pass(ClusterWeights(), g, PassContext(None, "cluster", {"clustering": Clustering(4)}))
        return g, conv

    g, conv = graph([0.5, 2.0, -1.0])
    changed, ctx = run_pass(FoldConstantScale(), g)
    assert not changed and op_types(g) == ["MUL", "CONV_2D"]
    assert "its weights are clustered" in messages(ctx)[0]
    g, conv = graph(0.25)
    before = g.copy()
    changed, _ = run_pass(FoldConstantScale(), g)
    assert changed and op_types(g) == ["CONV_2D"]
    assert np.unique(g.inputs_of(conv)[1].data).size <= 4
    assert constraint_of(g.inputs_of(conv)[1]).centroids.shape == (4,)
    assert_same_numerics(before, g)
