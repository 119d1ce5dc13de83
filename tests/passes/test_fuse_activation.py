"""fuse_activation: OP(fused=NONE) -> RELU|RELU6|RELU_N1_TO_1 => OP(fused=...), within the
target's limits (EdgeTPU refuses fused activations on concat and pools)."""

from __future__ import annotations

import pytest

from qgraph.ir import Graph, Op
from qgraph.passes.fuse_activation import FuseActivation
from qgraph.pipeline import PassContext
from qgraph.targets import get_target
from tests.passes.helpers import act, assert_same_numerics, conv2d, messages, op_types, rng, run_pass, unary


def _conv_act(act_type: str = "RELU6", conv_fused: str = "NONE"):
    """x -> CONV_2D -> act -> y."""
    g, r = Graph("conv_act"), rng()
    x = act(g, "x", (-1, 6, 6, 3))
    conv, c = conv2d(g, r, "conv", x, (-1, 6, 6, 4), 4, fused=conv_fused)
    _, y = unary(g, "act", act_type, c)
    g.inputs, g.outputs = ["x"], [y.name]
    return g, conv


def _binary_act(op_type: str, act_type: str = "RELU", attrs=None):
    """a, b -> op_type (ADD or CONCATENATION) -> act -> y."""
    g = Graph(f"{op_type.lower()}_act")
    a, b = act(g, "a", (-1, 4, 4, 3)), act(g, "b", (-1, 4, 4, 3))
    out = act(g, "op:0", (-1, 4, 4, 6) if op_type == "CONCATENATION" else (-1, 4, 4, 3))
    op = g.add_op(Op("op", op_type, {"fused": "NONE", **(attrs or {})}), [a, b], [out])
    _, y = unary(g, "act", act_type, out)
    g.inputs, g.outputs = ["a", "b"], [y.name]
    return g, op


def _fused_ok(g: Graph, before: Graph, ctx, op: Op, fused: str) -> None:
    assert op.attrs["fused"] == fused
    assert g.outputs_of(op)[0].name == "act:0" and g.outputs == ["act:0"]
    assert messages(ctx) == ["fused 1 activations into their producers"]
    g.lint()
    assert_same_numerics(before, g)


@pytest.mark.parametrize("act_type", ["RELU", "RELU6", "RELU_N1_TO_1"])
def test_activation_fused_into_conv(act_type):
    g, conv = _conv_act(act_type)
    before = g.copy()
    changed, ctx = run_pass(FuseActivation(), g)
    assert changed
    assert op_types(g) == ["CONV_2D"]
    _fused_ok(g, before, ctx, conv, act_type)


def test_relu_fused_into_add():
    g, add = _binary_act("ADD")
    before = g.copy()
    changed, ctx = run_pass(FuseActivation(), g)
    assert changed
    assert op_types(g) == ["ADD"]
    _fused_ok(g, before, ctx, add, "RELU")


def test_relu_never_fused_into_concat_because_litert_refuses_it():
    # LiteRT's concatenation kernel fails Prepare on a fused activation; XNNPACK ignores it.
    g, concat = _binary_act("CONCATENATION", attrs={"axis": -1})
    before = g.copy()
    changed, ctx = run_pass(FuseActivation(), g)
    assert not changed and op_types(g) == ["CONCATENATION", "RELU"]
    assert messages(ctx) == ["kept act: CONCATENATION cannot carry a fused activation on this target"]
    assert_same_numerics(before, g)


def _kept(g: Graph, ctx, changed: bool, types: list[str], reason: str) -> None:
    assert not changed
    assert op_types(g) == types
    assert messages(ctx) == [reason]
    g.lint()


def test_fused_activation_refused_on_concat_for_edgetpu():
    g, concat = _binary_act("CONCATENATION", attrs={"axis": -1})
    before = g.copy()
    changed, ctx = run_pass(FuseActivation(), g, PassContext(target=get_target("edgetpu")))
    _kept(
        g,
        ctx,
        changed,
        ["CONCATENATION", "RELU"],
        "kept act: CONCATENATION cannot carry a fused activation on this target",
    )
    assert concat.attrs["fused"] == "NONE"
    assert_same_numerics(before, g)


def test_fused_activation_refused_on_max_pool_for_edgetpu():
    g = Graph("pool_act")
    x = act(g, "x", (-1, 4, 4, 3))
    p = act(g, "pool:0", (-1, 2, 2, 3))
    g.add_op(
        Op("pool", "MAX_POOL_2D", {"filter": (2, 2), "stride": (2, 2), "padding": "VALID", "fused": "NONE"}),
        [x],
        [p],
    )
    unary(g, "act", "RELU6", p)
    g.inputs, g.outputs = ["x"], ["act:0"]
    changed, ctx = run_pass(FuseActivation(), g, PassContext(target=get_target("edgetpu")))
    _kept(
        g,
        ctx,
        changed,
        ["MAX_POOL_2D", "RELU6"],
        "kept act: MAX_POOL_2D cannot carry a fused activation on this target",
    )


def test_relu_not_fused_when_producer_output_is_graph_output():
    g, conv = _conv_act("RELU")
    g.outputs.append("conv:0")
    changed, ctx = run_pass(FuseActivation(), g)
    _kept(g, ctx, changed, ["CONV_2D", "RELU"], "kept act: conv's output is also read elsewhere")
    assert conv.attrs["fused"] == "NONE"


def test_relu_not_fused_when_producer_output_also_feeds_another_op():
    g, conv = _conv_act("RELU")
    unary(g, "sigmoid", "LOGISTIC", g.tensor("conv:0"))
    g.outputs.append("sigmoid:0")
    before = g.copy()
    changed, ctx = run_pass(FuseActivation(), g)
    _kept(g, ctx, changed, ["CONV_2D", "RELU", "LOGISTIC"], "kept act: conv's output is also read elsewhere")
    assert_same_numerics(before, g)


def test_relu_not_fused_when_producer_already_has_fused_activation():
    g, conv = _conv_act("RELU", conv_fused="RELU6")
    changed, ctx = run_pass(FuseActivation(), g)
    _kept(g, ctx, changed, ["CONV_2D", "RELU"], "kept act: conv already has fused RELU6")
    assert conv.attrs["fused"] == "RELU6"


def test_relu_not_fused_when_input_is_graph_input():
    g = Graph("relu_only")
    unary(g, "act", "RELU", act(g, "x", (-1, 4)))
    g.inputs, g.outputs = ["x"], ["act:0"]
    changed, ctx = run_pass(FuseActivation(), g)
    _kept(g, ctx, changed, ["RELU"], "kept act: its input is a graph input")


def test_second_activation_in_a_chain_not_fused():
    g, conv = _conv_act("RELU")
    _, y = unary(g, "act2", "RELU6", g.tensor("act:0"))
    g.outputs = [y.name]
    before = g.copy()
    changed, ctx = run_pass(FuseActivation(), g)
    assert changed
    assert op_types(g) == ["CONV_2D", "RELU6"]
    assert conv.attrs["fused"] == "RELU"
    assert messages(ctx) == [
        "kept act2: conv already has fused RELU",
        "fused 1 activations into their producers",
    ]
    g.lint()
    assert_same_numerics(before, g)
