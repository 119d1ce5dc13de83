"""merge_duplicate_ops: identical ops on identical inputs become one."""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.passes.merge_duplicate_ops import MergeDuplicateOps
from tests.passes.helpers import act, assert_same_numerics, conv2d, op_types, rng, run_pass, unary


def branches():
    """conv -> RELU a -> conv_a ; conv -> RELU b -> conv_b ; conv -> PAD (twice, equal constants)."""
    g, r = Graph("branches"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, y = conv2d(g, r, "stem", x, (-1, 4, 4, 3), 3)
    _, a = unary(g, "relu_a", "RELU", y)
    _, b = unary(g, "relu_b", "RELU", y)
    _, out_a = conv2d(g, r, "conv_a", a, (-1, 4, 4, 3), 3)
    _, out_b = conv2d(g, r, "conv_b", b, (-1, 4, 4, 3), 3)
    pads = []
    for name in ("pad_a", "pad_b"):
        p = act(g, f"{name}:0", (-1, 6, 6, 3))
        g.add_op(
            Op(name, "PAD"),
            [y, g.const(f"{name}/paddings", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))],
            [p],
        )
        pads.append(p)
    sums = act(g, "sum:0", (-1, 4, 4, 3))
    g.add_op(Op("sum", "ADD", {"fused": "NONE"}), [out_a, out_b], [sums])
    g.inputs, g.outputs = ["x"], ["sum:0", pads[0].name, pads[1].name]
    return g


def test_identical_relus_merge_and_numerics_hold():
    g = branches()
    before = g.copy()
    changed, ctx = run_pass(MergeDuplicateOps(), g)
    assert changed and op_types(g).count("RELU") == 1
    relu = next(op for op in g.ops() if op.type == "RELU")
    assert {op.name for op in g.consumers(g.outputs_of(relu)[0])} == {"conv_a", "conv_b"}
    assert_same_numerics(before, g)


def test_ops_writing_graph_outputs_are_kept():
    g = branches()
    run_pass(MergeDuplicateOps(), g)
    assert op_types(g).count("PAD") == 2  # both write graph outputs


def test_different_attributes_or_inputs_do_not_merge():
    g = Graph("distinct")
    x = act(g, "x", (-1, 8))
    _, a = unary(g, "leaky_a", "LEAKY_RELU", x)
    g.op("leaky_a").attrs["alpha"] = 0.1
    _, b = unary(g, "leaky_b", "LEAKY_RELU", x)
    g.op("leaky_b").attrs["alpha"] = 0.2
    s = act(g, "s", (-1, 8))
    g.add_op(Op("add", "ADD", {"fused": "NONE"}), [a, b], [s])
    g.inputs, g.outputs = ["x"], ["s"]
    changed, _ = run_pass(MergeDuplicateOps(), g)
    assert not changed and op_types(g).count("LEAKY_RELU") == 2


def test_state_tensors_of_a_recurrent_op_stay_separate():
    """An LSTM's h and c states are computed alike (zeros) but must be two variable buffers."""
    g = Graph("states")
    x = act(g, "x", (-1, 8))
    h, c = (unary(g, name, "RELU", x)[1] for name in ("h0", "c0"))
    y = act(g, "y", (-1, 8))
    g.add_op(Op("cell", "ADD", {"fused": "NONE", "variable_inputs": (0, 1)}), [h, c], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    changed, _ = run_pass(MergeDuplicateOps(), g)
    assert not changed and op_types(g).count("RELU") == 2


def test_constant_inputs_merge_only_when_their_values_are_equal():
    g = Graph("scales")
    x = act(g, "x", (-1, 4))
    outs = []
    for name, value in (("twice_a", 2.0), ("twice_b", 2.0), ("thrice", 3.0)):
        y = act(g, f"{name}:0", (-1, 4))
        g.add_op(
            Op(name, "MUL", {"fused": "NONE"}),
            [x, g.const(f"{name}/c", np.full((4,), value, np.float32))],
            [y],
        )
        outs.append(y)
    total = act(g, "total", (-1, 4))
    g.add_op(Op("sum", "ADD", {"fused": "NONE"}), outs[:2], [act(g, "pair", (-1, 4))])
    g.add_op(Op("sum2", "ADD", {"fused": "NONE"}), [g.tensor("pair"), outs[2]], [total])
    g.inputs, g.outputs = ["x"], ["total"]
    before = g.copy()
    changed, _ = run_pass(MergeDuplicateOps(), g)
    assert changed and sorted(op.name for op in g.ops() if op.type == "MUL") == ["thrice", "twice_a"]
    assert_same_numerics(before, g)
