"""unify_concat_scales: concat inputs take the output's parameters, or get a requantize."""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.passes.unify_concat_scales import UnifyConcatScales
from qgraph.quant.numerics import activation_params, fixed_output_params
from tests.passes.helpers import act, conv2d, messages, op_types, rng, run_pass, unary


def three_way_concat(axis: int = 3):
    """conv_a, conv_b, conv_c -> CONCATENATION(axis) with distinct calibrated parameters."""
    g, r = Graph("concat3"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    outs = []
    for name, hi in (("a", 1.0), ("b", 3.0), ("c", 6.0)):
        _, y = conv2d(g, r, name, x, (-1, 4, 4, 3), 3)
        y.quant = activation_params(0.0, hi)
        outs.append(y)
    shape = [-1, 4, 4, 3]
    shape[axis] = 9 if axis == 3 else 12
    out = act(g, "cat:0", tuple(shape))
    out.quant = activation_params(0.0, 6.0)
    g.add_op(Op("cat", "CONCATENATION", {"axis": axis, "fused": "NONE"}), outs, [out])
    x.quant = activation_params(-1.0, 1.0)
    g.inputs, g.outputs = ["x"], ["cat:0"]
    return g


def params(t):
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def test_every_input_takes_the_concat_output_params_without_requantize():
    for axis in (3, 1):
        g = three_way_concat(axis)
        changed, ctx = run_pass(UnifyConcatScales(), g)
        assert changed and op_types(g) == ["CONV_2D", "CONV_2D", "CONV_2D", "CONCATENATION"]
        cat = g.op("cat")
        want = params(g.outputs_of(cat)[0])
        assert want == (np.float32(6.0 / 255.0), -128)
        assert [params(t) for t in g.inputs_of(cat)] == [want] * 3
        assert messages(ctx) == [f"cat: 3 inputs share s={want[0]:.6g} z=-128"]


def test_requantize_when_input_has_fixed_output_params():
    g = three_way_concat()
    b = g.tensor("b:0")
    sig = act(g, "sig:0", b.shape)
    sig.quant = fixed_output_params("LOGISTIC")
    g.add_op(Op("sig", "LOGISTIC"), [b], [sig])
    g.set_input(g.op("cat"), 1, sig)
    changed, ctx = run_pass(UnifyConcatScales(), g)
    assert sorted(op_types(g)) == ["CONCATENATION", "CONV_2D", "CONV_2D", "CONV_2D", "LOGISTIC", "QUANTIZE"]
    assert params(sig) == (np.float32(1 / 256), -128)  # the LOGISTIC keeps its fixed parameters
    requantized = g.inputs_of(g.op("cat"))[1]
    assert g.producer(requantized).type == "QUANTIZE" and params(requantized) == params(g.tensor("cat:0"))
    assert "requantize inserted for input sig:0: LOGISTIC has fixed output parameters" in messages(ctx)[0]


def test_requantize_when_a_tensor_feeds_two_concats_with_different_params():
    g = three_way_concat()
    a = g.tensor("a:0")
    other = act(g, "cat2:0", (-1, 4, 4, 6))
    other.quant = activation_params(-2.0, 2.0)
    g.add_op(Op("cat2", "CONCATENATION", {"axis": 3, "fused": "NONE"}), [a, g.tensor("c:0")], [other])
    g.outputs = ["cat:0", "cat2:0"]
    run_pass(UnifyConcatScales(), g)
    cat2_inputs = g.inputs_of(g.op("cat2"))
    assert [g.producer(t).type for t in cat2_inputs] == ["QUANTIZE", "QUANTIZE"]
    assert all(params(t) == params(other) for t in cat2_inputs)
    assert params(a) == params(g.tensor("cat:0"))  # bound to the first concat


def test_graph_without_parameters_is_left_alone():
    g = three_way_concat()
    g.tensor("cat:0").quant = None
    changed, ctx = run_pass(UnifyConcatScales(), g)
    assert not changed and "no quantization parameters" in messages(ctx)[0]


def test_relu_output_unify_keeps_numerics_of_float_graph():
    # The pass only edits annotations (and may add a requantize, a float identity): the
    # float simulation is unchanged.
    from tests.passes.helpers import assert_same_numerics

    g = three_way_concat()
    _, y = unary(g, "r", "RELU", g.tensor("cat:0"))
    g.outputs = [y.name]
    before = g.copy()
    run_pass(UnifyConcatScales(), g)
    assert_same_numerics(before, g)


def calibrated(t, lo, hi):
    from qgraph.quant.annotations import set_observed_range

    set_observed_range(t, (lo, hi))
    t.quant = activation_params(lo, hi)
    return t


def dense_block():
    """DenseNet's pattern: conv_a -> MAX_POOL -> cat1(pool, b) -> cat2(cat1, c), calibrated."""
    g, r = Graph("dense_block"), rng()
    x = calibrated(act(g, "x", (-1, 4, 4, 2)), -1.0, 1.0)
    _, a = conv2d(g, r, "a", x, (-1, 4, 4, 3), 3)
    pooled = act(g, "pool:0", (-1, 4, 4, 3))
    g.add_op(
        Op("pool", "MAX_POOL_2D", {"filter": (1, 1), "stride": (1, 1), "padding": "SAME"}), [a], [pooled]
    )
    _, b = conv2d(g, r, "b", x, (-1, 4, 4, 3), 3)
    _, c = conv2d(g, r, "c", x, (-1, 4, 4, 3), 3)
    cat1, cat2 = act(g, "cat1:0", (-1, 4, 4, 6)), act(g, "cat2:0", (-1, 4, 4, 9))
    g.add_op(Op("cat1", "CONCATENATION", {"axis": 3, "fused": "NONE"}), [pooled, b], [cat1])
    g.add_op(Op("cat2", "CONCATENATION", {"axis": 3, "fused": "NONE"}), [cat1, c], [cat2])
    for t, lo, hi in ((a, 0, 1), (pooled, 0, 1), (b, -3, 2), (cat1, -3, 2), (c, 0, 5), (cat2, -3, 5)):
        calibrated(t, lo, hi)
    g.inputs, g.outputs = ["x"], ["cat2:0"]
    return g


def test_concat_linked_tensors_share_the_union_of_their_ranges_without_requantize():
    """The converter's rule: a chain of concats (and pass-through ops into them) is one group."""
    g = dense_block()
    changed, ctx = run_pass(UnifyConcatScales(), g)
    assert changed and "QUANTIZE" not in op_types(g)
    want = params(g.tensor("cat2:0"))
    expected = activation_params(-3.0, 5.0)
    assert want == (float(expected.scale[0]), int(expected.zero_point[0]))
    assert all(params(g.tensor(n)) == want for n in ("a:0", "pool:0", "b:0", "cat1:0", "c:0"))
    assert "6 concat-linked tensors share" in messages(ctx)[0]


def test_a_pass_through_output_of_a_fixed_range_op_is_requantized_not_regrouped():
    """LOGISTIC -> RESHAPE -> concat: the RESHAPE will copy LOGISTIC's fixed parameters."""
    g = dense_block()
    sig, flat = act(g, "sig:0", (-1, 4, 4, 3)), act(g, "flat:0", (-1, 4, 4, 3))
    g.add_op(Op("sig", "LOGISTIC"), [g.tensor("c:0")], [sig])
    g.add_op(
        Op("flat", "RESHAPE", {"new_shape": (-1, 4, 4, 3)}),
        [sig, g.const("shape", np.array([-1, 4, 4, 3], np.int32), "int32")],
        [flat],
    )
    calibrated(sig, 0.0, 1.0).quant = fixed_output_params("LOGISTIC")
    calibrated(flat, 0.0, 1.0)
    g.set_input(g.op("cat2"), 1, flat)
    run_pass(UnifyConcatScales(), g)
    requantized = g.inputs_of(g.op("cat2"))[1]
    assert g.producer(requantized).type == "QUANTIZE" and params(requantized) == params(g.tensor("cat2:0"))


def test_a_constant_input_is_written_at_the_shared_parameters_not_requantized():
    g = Graph("clamp")
    x = calibrated(act(g, "x", (-1, 4)), -1.0, 1.0)
    y = calibrated(act(g, "y", (-1, 4)), -1.0, 1.0)
    g.add_op(Op("min", "MINIMUM"), [x, g.const("ceiling", np.full((4,), 1e7, np.float32))], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    run_pass(UnifyConcatScales(), g)
    const_in = g.inputs_of(g.op("min"))[1]
    assert "QUANTIZE" not in op_types(g) and const_in.is_constant
    assert params(const_in) == params(y)
