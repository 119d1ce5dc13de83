"""The ops of qgraph/ops/linalg.py, one small graph each: the written file runs in LiteRT and
matches numpy (float), the Keras kernel matches numpy (what calibration and QAT execute), int8
files load at the version op_version.cc gives and track numpy, and options read back."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qgraph
from qgraph.frontend.tflite import from_tflite
from qgraph.ir import Graph, Op, Tensor
from qgraph.testing import max_rel_err, run_litert, sqnr_db

R = np.random.default_rng(0)
_erf = np.vectorize(math.erf)


def _gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def _positive(*shape):
    return R.uniform(0.2, 3.0, shape).astype(np.float32)


def _normal(*shape):
    return R.normal(size=shape).astype(np.float32)


def _case(op_type, inputs, out_shape, reference, sampler=_normal, **attrs):
    """(op type, attrs, input shapes without the batch or constants, output shape, sampler, numpy reference)"""
    return op_type, attrs, inputs, out_shape, sampler, reference


_PERM, _TILES, _TO_SHAPE, _AXIS = (np.array(v, np.int32) for v in ([0, 3, 1, 2], [1, 3, 1], [1, 3, 5], [2]))
CASES = {
    "batch_matmul_adj_y": _case(
        "BATCH_MATMUL", [(3, 4, 5), (3, 6, 5)], (3, 4, 6), lambda a, b: a @ np.swapaxes(b, -1, -2), adj_y=True
    ),
    "batch_matmul_adj_x": _case(
        "BATCH_MATMUL", [(5, 4), (5, 6)], (4, 6), lambda a, b: np.swapaxes(a, -1, -2) @ b, adj_x=True
    ),
    "transpose": _case("TRANSPOSE", [(2, 3, 4), _PERM], (4, 2, 3), lambda a: a.transpose(0, 3, 1, 2)),
    "tile": _case("TILE", [(1, 5), _TILES], (3, 5), lambda a: np.tile(a, (1, 3, 1))),
    "broadcast_to": _case(
        "BROADCAST_TO", [(1, 5), _TO_SHAPE], (3, 5), lambda a: np.broadcast_to(a, (len(a), 3, 5))
    ),
    "squared_difference": _case("SQUARED_DIFFERENCE", [(4, 5), (4, 1)], (4, 5), lambda a, b: (a - b) ** 2),
    "div": _case("DIV", [(4, 5), (4, 5)], (4, 5), lambda a, b: a / b, _positive, fused="NONE"),
    "sum": _case("SUM", [(4, 5), _AXIS], (4, 1), lambda a: a.sum(axis=2, keepdims=True), keep_dims=True),
    "rsqrt": _case("RSQRT", [(4, 5)], (4, 5), lambda a: 1 / np.sqrt(a), _positive),
    "sqrt": _case("SQRT", [(4, 5)], (4, 5), np.sqrt, _positive),
    "exp": _case("EXP", [(4, 5)], (4, 5), np.exp),
    "gelu": _case("GELU", [(4, 5)], (4, 5), lambda a: _gelu(a, False), approximate=False),
    "gelu_tanh": _case("GELU", [(4, 5)], (4, 5), lambda a: _gelu(a, True), approximate=True),
}
#: the version LiteRT must accept for the int8 kernel (op_version.cc).
INT8_VERSIONS = {
    "batch_matmul_adj_y": 2,
    "transpose": 2,
    "tile": 3,
    "broadcast_to": 3,
    "squared_difference": 2,
    "sum": 2,
    "rsqrt": 2,
    "sqrt": 2,
    "exp": 2,
    "gelu": 2,
    "gelu_tanh": 2,
}


def _graph(name: str) -> tuple[Graph, list[np.ndarray], np.ndarray, Op]:
    op_type, attrs, ins, out_shape, sample, _ = CASES[name]
    g = Graph(name)
    tensors = []
    for i, spec in enumerate(ins):
        if isinstance(spec, np.ndarray):
            tensors.append(g.const(f"in{i}", spec, str(spec.dtype)))
        else:
            tensors.append(g.add_tensor(Tensor(f"in{i}", (-1, *spec))))
            g.inputs.append(tensors[-1].name)
    out = g.add_tensor(Tensor("out", (-1, *out_shape)))
    op = g.add_op(Op(name, op_type, dict(attrs)), tensors, [out])
    g.outputs = ["out"]
    samples = [sample(6, *spec) for spec in ins if not isinstance(spec, np.ndarray)]
    return g, samples, out, op


def _reference(name: str, samples: list[np.ndarray]) -> np.ndarray:
    return np.asarray(CASES[name][-1](*[s.astype(np.float64) for s in samples]), np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_file_and_keras_kernel_match_numpy(name):
    g, samples, _, _ = _graph(name)
    ref = _reference(name, samples)
    kernel_out = qgraph.to_keras(g).predict(samples if len(samples) > 1 else samples[0], verbose=0)
    assert max_rel_err(kernel_out, ref) < 1e-5
    result = qgraph.compile(g, "cpu")
    assert max_rel_err(run_litert(result.tflite, *samples), ref) < 1e-5


@pytest.mark.parametrize("name", sorted(INT8_VERSIONS))
def test_int8_file_loads_at_the_int8_version_and_tracks_numpy(name):
    g, samples, _, op = _graph(name)
    ref = _reference(name, samples)
    calibration = [np.concatenate([s, s * 0.9]) for s in samples]
    result = qgraph.compile(
        g, "cpu", "int8", representative_data=calibration if len(calibration) > 1 else calibration[0]
    )
    assert (
        result.graph.op(name).type == op.type
        and result.graph.outputs_of(result.graph.op(name))[0].dtype == "int8"
    )
    assert result.graph.meta["op_versions"][op.type] == INT8_VERSIONS[name]
    assert sqnr_db(run_litert(result.tflite, *samples), ref) > 30


def test_div_has_no_int8_kernel_and_stays_a_float_island():
    g, samples, _, _ = _graph("div")
    result = qgraph.compile(g, "cpu", "int8", representative_data=[np.concatenate([s, s]) for s in samples])
    div = result.graph.op("div")
    assert [t.dtype for t in result.graph.inputs_of(div)] == ["float32", "float32"]
    assert max_rel_err(run_litert(result.tflite, *samples), _reference("div", samples)) < 0.05


@pytest.mark.parametrize(
    ("name", "attrs"),
    [("batch_matmul_adj_y", {"adj_x": False, "adj_y": True}), ("gelu_tanh", {"approximate": True})],
)
def test_options_read_back_from_the_file(name, attrs):
    g, _, _, op = _graph(name)
    back = from_tflite(qgraph.compile(g, "cpu").tflite)
    (read,) = [o for o in back.ops() if o.type == op.type]
    assert {k: read.attrs[k] for k in attrs} == attrs


def test_transpose_of_five_dimensions_is_version_4():
    g = Graph("t5")
    x = g.add_tensor(Tensor("x", (-1, 2, 3, 4, 5)))
    g.inputs = ["x"]
    out = g.add_tensor(Tensor("out", (-1, 5, 2, 3, 4)))
    g.add_op(Op("t", "TRANSPOSE"), [x, g.const("perm", np.array([0, 4, 1, 2, 3], np.int32), "int32")], [out])
    g.outputs = ["out"]
    result = qgraph.compile(g, "cpu")
    assert result.graph.meta["op_versions"]["TRANSPOSE"] == 4
    xs = _normal(2, 2, 3, 4, 5)
    assert max_rel_err(run_litert(result.tflite, xs), xs.transpose(0, 4, 1, 2, 3)) == 0.0
