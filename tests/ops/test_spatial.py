"""SLICE and TRANSPOSE_CONV on hand-built graphs: what LiteRT computes from the written file is
what the OpDef's Keras kernel computes, the versions follow op_version.cc, and the reader maps
both back."""

from __future__ import annotations

import numpy as np

import qgraph
from qgraph.emit.tflite import serialize
from qgraph.frontend.tflite import from_tflite
from qgraph.ir import Graph, Op, Tensor
from qgraph.testing import max_rel_err, run_litert


def _transpose_conv_graph(out_hw: tuple[int, int], padding: str, fused: str = "NONE") -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("deconv")
    x = g.add_tensor(Tensor("x", (-1, 4, 5, 3)))
    y = g.add_tensor(Tensor("y", (-1, *out_hw, 2)))
    ins = [
        g.const("output_shape", np.array([1, *out_hw, 2], np.int32), "int32"),
        g.const("weights", rng.normal(size=(2, 3, 3, 3)).astype(np.float32)),
        x,
        g.const("bias", np.array([0.5, -0.25], np.float32)),
    ]
    g.add_op(Op("deconv", "TRANSPOSE_CONV", {"padding": padding, "stride": (2, 2), "fused": fused}), ins, [y])
    g.inputs, g.outputs = ["x"], ["y"]
    g.lint()
    return g


def test_transpose_conv_kernel_matches_litert_even_off_keras_default_output_size():
    """VALID, 3x3/2 from 4x5: Keras' size is 9x11; 10x12 is also legal (Keras' output_padding=1)."""
    x = np.random.default_rng(1).normal(size=(3, 4, 5, 3)).astype(np.float32)
    for out_hw, padding in [((9, 11), "VALID"), ((10, 12), "VALID"), ((8, 10), "SAME"), ((7, 9), "SAME")]:
        g = _transpose_conv_graph(out_hw, padding)
        expected = qgraph.to_keras(g).predict(x, verbose=0)
        assert expected.shape == (3, *out_hw, 2)
        assert max_rel_err(run_litert(serialize(g), x), expected) < 1e-5, (out_hw, padding)


def test_transpose_conv_version_is_3_with_a_bias_and_4_with_a_fused_activation():
    for fused, version in [("NONE", 3), ("RELU", 4)]:
        g = _transpose_conv_graph((8, 10), "SAME", fused)
        serialize(g)
        assert g.meta["op_versions"] == {"TRANSPOSE_CONV": version}
    back = from_tflite(serialize(_transpose_conv_graph((8, 10), "SAME", "RELU")))
    (op,) = back.ops()
    assert (op.type, op.attrs["padding"], op.attrs["stride"], op.attrs["fused"]) == (
        "TRANSPOSE_CONV",
        "SAME",
        (2, 2),
        "RELU",
    )


def test_slice_with_size_minus_one_runs_to_the_end():
    g = Graph("crop")
    x = g.add_tensor(Tensor("x", (-1, 6, 5)))
    y = g.add_tensor(Tensor("y", (-1, 3, 5)))
    begin = g.const("begin", np.array([0, 2, 0], np.int32), "int32")
    size = g.const("size", np.array([-1, 3, -1], np.int32), "int32")
    g.add_op(Op("crop", "SLICE"), [x, begin, size], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    data = serialize(g)
    assert g.meta["op_versions"] == {"SLICE": 1}
    value = np.arange(2 * 6 * 5, dtype=np.float32).reshape(2, 6, 5)
    np.testing.assert_array_equal(run_litert(data, value), value[:, 2:5])
    np.testing.assert_array_equal(qgraph.to_keras(from_tflite(data)).predict(value, verbose=0), value[:, 2:5])
