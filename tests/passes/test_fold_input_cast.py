"""fold_input_cast: uint8/int8 input -> CAST -> QUANTIZE => input (scale 1, zero point 0) ->
QUANTIZE; an int32 input, and a CAST whose float output is read in float, are kept."""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.passes.fold_input_cast import FoldInputCast
from tests.passes.helpers import messages, op_types, run_pass


def _graph(dtype: str, quantized_reader: bool = True) -> Graph:
    """input (dtype) -> CAST -> QUANTIZE -> int8 (or -> RELU in float)."""
    g = Graph("cast")
    x = g.add_tensor(Tensor("pixels", (-1, 4), dtype))
    wide = g.add_tensor(Tensor("cast:0", (-1, 4)))
    g.add_op(Op("cast", "CAST", {"to": "float32"}), [x], [wide])
    q = QuantParams(np.ones(1, np.float32), np.full(1, -128, np.int64))
    out = g.add_tensor(Tensor("q:0", (-1, 4), quant=q if quantized_reader else None))
    g.add_op(Op("q", "QUANTIZE" if quantized_reader else "RELU"), [wide], [out])
    g.inputs, g.outputs = ["pixels"], [out.name]
    return g


def test_uint8_input_is_requantized_by_one_quantize():
    g = _graph("uint8")
    changed, ctx = run_pass(FoldInputCast(), g)
    assert changed and op_types(g) == ["QUANTIZE"]
    x = g.tensor("pixels")
    assert g.inputs_of(g.op("q")) == [x]
    assert x.quant is not None and x.quant.dtype == "uint8"
    assert float(x.quant.scale[0]) == 1.0 and int(x.quant.zero_point[0]) == 0
    assert messages(ctx) == ["input pixels: uint8 as given (scale 1, zero point 0); QUANTIZE requantizes it"]


def test_int32_input_keeps_its_cast():
    g = _graph("int32")
    changed, _ = run_pass(FoldInputCast(), g)
    assert not changed and op_types(g) == ["CAST", "QUANTIZE"]
    assert g.tensor("pixels").quant is None


def test_cast_read_in_float_is_kept():
    g = _graph("int8", quantized_reader=False)
    changed, ctx = run_pass(FoldInputCast(), g)
    assert not changed and op_types(g) == ["CAST", "RELU"]
    assert messages(ctx) == ["kept cast: its float output is read in float"]
