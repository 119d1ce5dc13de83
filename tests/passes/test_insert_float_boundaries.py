"""insert_float_boundaries: float ops in an int8 graph get DEQUANTIZE/QUANTIZE at their borders."""

from __future__ import annotations

from qgraph.ir import Graph
from qgraph.passes.insert_float_boundaries import InsertFloatBoundaries
from qgraph.pipeline import PassContext
from qgraph.quant.numerics import activation_params
from tests.passes.helpers import act, conv2d, messages, op_types, rng, run_pass


def test_float_op_reading_an_int8_tensor_gets_a_dequantize():
    g, r = Graph("mixed"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, a = conv2d(g, r, "int8_a", x, (-1, 4, 4, 3), 3)
    _, b = conv2d(g, r, "float_b", a, (-1, 4, 4, 3), 3)
    g.inputs, g.outputs = ["x"], [b.name]
    x.quant, a.quant = activation_params(-1, 1), activation_params(0, 2)  # b has none: float_b stays float
    g.tensor("float_b/filter").quant = activation_params(-1, 1)  # dropped: a float op keeps float weights
    changed, ctx = run_pass(InsertFloatBoundaries(), g, PassContext(quantize="int8"))
    assert changed and op_types(g) == ["CONV_2D", "DEQUANTIZE", "CONV_2D"]
    assert g.producer(g.inputs_of(g.op("float_b"))[0]).type == "DEQUANTIZE"
    assert g.tensor("float_b/filter").quant is None
    assert messages(ctx) == ["1 ops run in float: float_b"]


def test_float_op_whose_output_int8_ops_read_writes_float_then_quantizes():
    g, r = Graph("border"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, a = conv2d(g, r, "float_a", x, (-1, 4, 4, 3), 3)
    _, b = conv2d(g, r, "int8_b", a, (-1, 4, 4, 3), 3)
    g.inputs, g.outputs = ["x"], [b.name]
    a.quant, b.quant = activation_params(-1, 1), activation_params(-1, 1)
    run_pass(InsertFloatBoundaries(), g, PassContext(quantize="int8"))
    assert op_types(g) == ["CONV_2D", "QUANTIZE", "CONV_2D"]
    assert g.producer(a).type == "QUANTIZE" and g.outputs_of(g.op("float_a"))[0].quant is None
