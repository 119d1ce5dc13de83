"""remove_identity: IDENTITY(x) => x ; RESHAPE(x) to x's own shape => x ; kept (and logged)
when it joins two graph boundaries."""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.passes.remove_identity import RemoveIdentity
from tests.passes.helpers import act, assert_same_numerics, conv2d, messages, op_types, rng, run_pass, unary


def _reshape(g: Graph, name: str, x, new_shape) -> tuple[Op, object]:
    y = act(g, f"{name}:0", new_shape)
    shape = g.const(f"{name}/shape", np.asarray(new_shape, dtype=np.int32))
    return g.add_op(Op(name, "RESHAPE", {"new_shape": list(new_shape)}), [x, shape], [y]), y


def test_identity_between_conv_and_relu_removed():
    g, r = Graph("conv_id_relu"), rng()
    x = act(g, "x", (-1, 6, 6, 3))
    conv, c = conv2d(g, r, "conv", x, (-1, 6, 6, 4), 4)
    _, d = unary(g, "dropout", "IDENTITY", c)
    relu, y = unary(g, "relu", "RELU", d)
    g.inputs, g.outputs = ["x"], [y.name]
    before = g.copy()
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert changed
    assert op_types(g) == ["CONV_2D", "RELU"]
    assert g.inputs_of(relu)[0] is c
    assert "dropout:0" not in g.nx
    assert messages(ctx) == ["removed 1 no-op ops"]
    g.lint()
    assert_same_numerics(before, g)


def test_noop_reshape_and_identity_at_the_output_removed():
    g, r = Graph("conv_reshape_id"), rng()
    x = act(g, "x", (-1, 6, 6, 3))
    conv, c = conv2d(g, r, "conv", x, (-1, 6, 6, 4), 4)
    _, rs = _reshape(g, "reshape", c, (-1, 6, 6, 4))
    _, y = unary(g, "linear", "IDENTITY", rs)
    g.inputs, g.outputs = ["x"], [y.name]
    before = g.copy()
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert changed
    assert op_types(g) == ["CONV_2D"]
    assert g.outputs == ["conv:0"]  # the graph output is now the conv's own output
    assert "reshape/shape" not in g.nx  # the reshape's shape constant is pruned
    assert messages(ctx) == ["removed 2 no-op ops"]
    g.lint()
    assert_same_numerics(before, g)


def test_reshape_not_removed_when_shape_changes():
    g = Graph("flatten")
    x = act(g, "x", (-1, 2, 2, 3))
    _, y = _reshape(g, "reshape", x, (-1, 12))
    relu, z = unary(g, "relu", "RELU", y)
    g.inputs, g.outputs = ["x"], [z.name]
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert not changed
    assert op_types(g) == ["RESHAPE", "RELU"]
    assert messages(ctx) == []
    g.lint()


def test_reshape_not_removed_when_two_dims_are_unknown():
    # (-1, -1, 4) -> (-1, -1, 4) may still move elements between the two unknown dims.
    g = Graph("dynamic")
    x = act(g, "x", (-1, -1, 4))
    _, y = _reshape(g, "reshape", x, (-1, -1, 4))
    unary(g, "relu", "RELU", y)
    g.inputs, g.outputs = ["x"], ["relu:0"]
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert not changed
    assert op_types(g) == ["RESHAPE", "RELU"]
    g.lint()


def test_identity_joining_graph_input_and_output_becomes_a_copying_reshape():
    # TFLite has no identity op and cannot alias an input to an output.
    g = Graph("passthrough")
    x = act(g, "x", (-1, 4))
    unary(g, "id", "IDENTITY", x)
    g.inputs, g.outputs = ["x"], ["id:0"]
    before = g.copy()
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert changed
    assert op_types(g) == ["RESHAPE"] and g.op("id").attrs["new_shape"] == (-1, 4)
    assert g.outputs == ["id:0"]
    assert messages(ctx) == ["kept id as a copy: it joins two graph boundaries"]
    g.lint()
    assert_same_numerics(before, g)


def test_identity_not_removed_when_it_joins_two_graph_outputs():
    g = Graph("two_outputs")
    x = act(g, "x", (-1, 4))
    _, h = unary(g, "relu", "RELU", x)
    unary(g, "id", "IDENTITY", h)
    g.inputs, g.outputs = ["x"], ["relu:0", "id:0"]
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert changed
    assert op_types(g) == ["RELU", "RESHAPE"]
    assert messages(ctx) == ["kept id as a copy: it joins two graph boundaries"]
    g.lint()


def test_chain_of_identities_from_input_to_output_keeps_one():
    g = Graph("chain")
    x = act(g, "x", (-1, 4))
    _, a = unary(g, "id1", "IDENTITY", x)
    unary(g, "id2", "IDENTITY", a)
    g.inputs, g.outputs = ["x"], ["id2:0"]
    before = g.copy()
    changed, ctx = run_pass(RemoveIdentity(), g)
    assert changed
    assert op_types(g) == ["RESHAPE"]
    (kept,) = g.ops()
    assert [t.name for t in g.inputs_of(kept)][0] == "x" and g.outputs == ["id2:0"]
    assert messages(ctx) == ["kept id2 as a copy: it joins two graph boundaries", "removed 1 no-op ops"]
    g.lint()
    assert_same_numerics(before, g)
