"""IR units, built without Keras: editing verbs, order, copy, dump, lint."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.errors import LintError
from qgraph.ir import Graph, Op, QuantParams, Tensor


def small_graph() -> Graph:
    g = Graph("small")
    x = g.add_tensor(Tensor("x", (-1, 4)))
    w = g.const("w", np.ones((3, 4), np.float32))
    b = g.const("b", np.zeros(3, np.float32))
    h = g.add_tensor(Tensor("h", (-1, 3)))
    y = g.add_tensor(Tensor("y", (-1, 3)))
    g.add_op(Op("fc", "FULLY_CONNECTED", {"fused": "NONE"}), [x, w, b], [h])
    g.add_op(Op("act", "RELU"), [h], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_structure_queries():
    g = small_graph()
    assert [op.name for op in g.ops()] == ["fc", "act"]
    assert g.producer("h").name == "fc" and g.producer("x") is None
    assert [op.name for op in g.consumers("h")] == ["act"]
    assert [t.name for t in g.inputs_of(g.op("fc"))] == ["x", "w", "b"]
    assert g.sole_reader(g.tensor("h")).name == "act"
    assert g.sole_reader(g.tensor("y")) is None  # a graph output has an outside reader


def test_same_tensor_on_two_ports():
    g = Graph()
    x = g.add_tensor(Tensor("x", (2,)))
    y = g.add_tensor(Tensor("y", (2,)))
    g.add_op(Op("sq", "MUL", {"fused": "NONE"}), [x, x], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    assert [t.name for t in g.inputs_of(g.op("sq"))] == ["x", "x"]
    assert g.uses(x) == [(g.op("sq"), 0), (g.op("sq"), 1)]
    g.lint()


def test_names_are_made_unique():
    g = small_graph()
    t = g.add_tensor(Tensor("h", (1,)))
    assert t.name == "h_1"


def test_insert_after_rewires_readers():
    g = small_graph()
    new = g.insert_after(g.tensor("h"), Op("id", "IDENTITY"))
    assert [op.name for op in g.ops()] == ["fc", "id", "act"]
    assert g.inputs_of(g.op("act")) == [new]
    g.lint()


def test_absorb_into_producer_and_remove_op():
    g = small_graph()
    g.absorb_into_producer(g.op("act"), fused="RELU")
    assert [op.type for op in g.ops()] == ["FULLY_CONNECTED"]
    assert g.outputs_of(g.op("fc"))[0].name == "y" and g.op("fc").attrs["fused"] == "RELU"
    assert "h" not in g.nx
    g.lint()


def test_copy_is_independent():
    g = small_graph()
    c = g.copy()
    c.op("fc").attrs["fused"] = "RELU6"
    c.remove_op(c.op("act"))
    assert g.op("fc").attrs["fused"] == "NONE" and len(g.ops()) == 2
    c.add_tensor(Tensor("z", (1,)))  # the copy keeps allocating fresh sequence numbers
    assert c.nx.nodes["z"]["seq"] > max(d["seq"] for n, d in c.nx.nodes(data=True) if n != "z")


def test_dump_is_stable_text():
    assert small_graph().dump() == (
        "graph small\n"
        "  inputs:  x:f32[-1, 4]\n"
        "  outputs: y:f32[-1, 3]\n"
        "  fc = FULLY_CONNECTED(x:f32[-1, 4], w:f32[3, 4]=const, b:f32[3]=const) {fused=NONE} -> h:f32[-1, 3]\n"
        "  act = RELU(h:f32[-1, 3]) -> y:f32[-1, 3]\n"
    )


def test_summary_counts():
    s = small_graph().summary()
    assert s["ops_by_type"] == {"FULLY_CONNECTED": 1, "RELU": 1}
    assert s["parameters"] == 15 and s["parameter_bytes"] == 60


def test_lint_reports_every_violation_by_name():
    g = small_graph()
    g.add_tensor(Tensor("orphan", (3,)))
    g.op("act").type = "NOT_AN_OP"
    g.tensor("w").quant = QuantParams(scale=[0.1, 0.2], zero_point=[0, 0], axis=0)  # 2 scales, axis of size 3
    g.nx.add_edge("y", "fc", key=5)  # a cycle and a port gap
    with pytest.raises(LintError) as err:
        g.lint()
    msg = str(err.value)
    for fragment in (
        "'orphan' has no producer",
        "unknown type 'NOT_AN_OP'",
        "2 scales for axis 0 of size 3",
        "cycle",
        "ports [0, 1, 2, 5]",
    ):
        assert fragment in msg, fragment


def test_lint_checks_constant_data_against_declaration():
    g = small_graph()
    g.tensor("b").dtype = "int32"
    with pytest.raises(LintError, match="'b': data dtype float32 != declared int32"):
        g.lint()


def test_quant_params_zero_point_range():
    g = small_graph()
    g.tensor("h").quant = QuantParams(scale=0.5, zero_point=200, dtype="int8")
    with pytest.raises(LintError, match="zero point outside the int8 range"):
        g.lint()


def test_order_after_runs_a_late_reader_right_after_its_tensor():
    g = Graph()
    x = g.add_tensor(Tensor("x", (1, 4)))
    a = g.add_tensor(Tensor("a", (1, 4)))
    b = g.add_tensor(Tensor("b", (1, 4)))
    g.inputs, g.outputs = ["x"], ["b"]
    g.add_op(Op("first", "RELU"), [x], [a])
    g.add_op(Op("second", "RELU"), [a], [b])
    watch = g.add_tensor(Tensor("watch", (1, 4)))
    late = g.add_op(Op("watch_a", "RELU"), [a], [watch])
    assert [op.name for op in g.ops()] == ["first", "second", "watch_a"]
    g.order_after(a, [late, watch])
    assert [op.name for op in g.ops()] == ["first", "watch_a", "second"]
