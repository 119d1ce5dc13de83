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
