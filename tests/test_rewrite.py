"""RewritePass: refusals logged with their reason, removed ops skipped, counting, summary,
fallback, return value; and the shared checks. Small graphs, no Keras."""

from __future__ import annotations

from qgraph import RewritePass
from qgraph.ir import Graph
from qgraph.rewrite import constant_weights_reason, fused_activation_reason, sole_reader_reason
from tests.passes.helpers import act, conv2d, messages, op_types, rng, run_pass, unary


class DropDoubleRelu(RewritePass):
    """RELU -> RELU  =>  RELU"""

    name = "drop_double_relu"
    phase = "optimize"
    match_types = ("RELU",)

    def check(self, graph, op, ctx):
        producer = graph.producer(graph.inputs_of(op)[0])
        if producer is None or producer.type != "RELU":
            return "its input does not come from a RELU"
        return sole_reader_reason(graph, producer, op)

    def rewrite(self, graph, op, ctx):
        graph.absorb_into_producer(op)


def relu_chain(n: int) -> Graph:
    """x -> RELU relu1 -> ... -> RELU relu<n> -> y"""
    g = Graph("relus")
    t = act(g, "x", (-1, 4))
    for i in range(1, n + 1):
        _, t = unary(g, f"relu{i}", "RELU", t)
    g.inputs, g.outputs = ["x"], [t.name]
    return g


def test_refusal_is_logged_with_its_reason_and_rewrite_with_the_default_message():
    g = relu_chain(2)
    changed, ctx = run_pass(DropDoubleRelu(), g)
    assert changed and op_types(g) == ["RELU"]
    assert messages(ctx) == ["kept relu1: its input does not come from a RELU", "rewrote relu2"]


def test_nothing_to_rewrite_returns_false_and_leaves_the_graph_alone():
    g = relu_chain(1)
    before = g.dump()
    changed, ctx = run_pass(DropDoubleRelu(), g)
    assert not changed and g.dump() == before
    assert messages(ctx) == ["kept relu1: its input does not come from a RELU"]


def test_shared_check_names_the_op_at_fault():
    g = relu_chain(2)
    g.outputs.append("relu1:0")  # relu1's output is read by relu2 and is a graph output
    changed, ctx = run_pass(DropDoubleRelu(), g)
    assert not changed and op_types(g) == ["RELU", "RELU"]
    assert messages(ctx)[-1] == "kept relu2: relu1's output is also read elsewhere"


def test_ops_removed_by_an_earlier_rewrite_are_skipped():
    class DropFollowingRelu(DropDoubleRelu):
        """RELU a -> RELU b  =>  RELU a: removes the *next* op, which is still a candidate."""

        def check(self, graph, op, ctx):
            (reader,) = graph.consumers(graph.outputs_of(op)[0]) or (None,)
            return None if reader is not None and reader.type == "RELU" else "no RELU reads it"

        def rewrite(self, graph, op, ctx):
            graph.absorb_into_producer(graph.consumers(graph.outputs_of(op)[0])[0])
            return f"dropped the RELU after {op.name}"

    g = relu_chain(3)
    changed, ctx = run_pass(DropFollowingRelu(), g)
    # relu1's rewrite removes relu2, which is then skipped: no "kept relu2" about a removed op.
    assert changed and op_types(g) == ["RELU", "RELU"]
    assert messages(ctx) == ["dropped the RELU after relu1", "kept relu3: no RELU reads it"]


def test_custom_refusal_and_a_fallback_that_changes_the_graph():
    class MarkRefused(DropDoubleRelu):
        refusal = "marked {op}: {reason}"

        def fallback(self, graph, op, ctx):
            op.meta["refused"] = True  # stands in for a lowering: refused, yet the graph changed
            return True

    g = relu_chain(1)
    changed, ctx = run_pass(MarkRefused(), g)
    assert changed and g.op("relu1").meta["refused"]
    assert messages(ctx) == ["marked relu1: its input does not come from a RELU"]


def test_summary_replaces_the_per_op_default_message():
    class Quiet(DropDoubleRelu):
        summary = "dropped {count} RELU ops"

    g = relu_chain(3)
    changed, ctx = run_pass(Quiet(), g)
    assert changed and op_types(g) == ["RELU"]
    assert messages(ctx) == ["kept relu1: its input does not come from a RELU", "dropped 2 RELU ops"]


def test_shared_checks():
    g, r = Graph("conv"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    conv, y = conv2d(g, r, "conv", x, (-1, 4, 4, 3), 3, fused="RELU6")
    relu, _ = unary(g, "relu", "RELU", y)
    g.inputs, g.outputs = ["x"], ["relu:0"]
    assert fused_activation_reason(conv) == "conv already has fused RELU6"
    assert fused_activation_reason(relu) is None  # no `fused` attribute at all
    assert sole_reader_reason(g, conv, relu) is None
    assert constant_weights_reason(g, conv) is None
    g.inputs_of(conv)[2].data = None  # a bias computed at run time
    assert constant_weights_reason(g, conv) == "conv's weights are not constant"
    assert constant_weights_reason(g, conv, with_bias=False) is None
