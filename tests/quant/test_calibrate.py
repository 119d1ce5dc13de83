"""Calibration in LiteRT (qgraph's own float .tflite with in-graph min/max) gives the ranges the
Keras emitter gives, on every kind of graph it meets; Keras takes over when LiteRT cannot run."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.ir import Graph, Op, Tensor
from qgraph.quant.calibrate import calibrate, observed_tensors


def _both(graph, data, **kwargs):
    return calibrate(graph, data, runtime="litert", **kwargs), calibrate(
        graph, data, runtime="keras", **kwargs
    )


def _assert_same_ranges(ours, reference, rtol=1e-5):
    assert ours.keys() == reference.keys()
    for name, (lo, hi) in reference.items():
        scale = max(abs(lo), abs(hi), 1e-3)
        got = ours[name]
        assert abs(got[0] - lo) <= rtol * scale and abs(got[1] - hi) <= rtol * scale, (name, got, (lo, hi))


def _float_graph(model):
    return qgraph.compile(model, quantize="float").graph


def test_litert_ranges_are_the_keras_ranges_on_the_trained_digits_cnn(digits):
    model, (x_train, _, _, _) = digits
    graph = _float_graph(model)
    ours, reference = _both(graph, x_train[:100])
    _assert_same_ranges(ours, reference)
    assert len(ours) == len(observed_tensors(graph)) > 5
    # The ranges are real: wide, and different from tensor to tensor.
    spans = sorted(hi - lo for lo, hi in ours.values())
    assert spans[0] > 0.1 and spans[-1] > 2 * spans[0]


def test_percentile_ranges_agree_and_clip_inside_the_minmax_ones(digits):
    model, (x_train, _, _, _) = digits
    graph = _float_graph(model)
    ours, reference = _both(graph, x_train[:100], method="percentile", percentile=99.9)
    # Histogram edges follow min/max, which differ by float round-off: one bin of slack.
    _assert_same_ranges(ours, reference, rtol=2e-3)
    minmax = calibrate(graph, x_train[:100])
    assert all(ours[n][1] <= minmax[n][1] + 1e-6 for n in ours)
    assert any(ours[n][1] < minmax[n][1] - 1e-3 for n in ours)


def test_compiled_int8_scales_match_keras_calibration(digits):
    model, (x_train, _, x_test, _) = digits
    fast = qgraph.compile(model, quantize="int8", representative_data=x_train[:100])
    slow = qgraph.compile(
        model, quantize="int8", representative_data=x_train[:100], calibration_runtime="keras"
    )
    calibrated = next(r for r in fast.report.passes if r.name == "calibrate")
    assert any("in LiteRT" in m for m in calibrated.messages)
    fast_q = {t.name: t.quant for t in fast.graph.tensors() if t.quant is not None and t.data is None}
    slow_q = {t.name: t.quant for t in slow.graph.tensors() if t.quant is not None and t.data is None}
    assert fast_q.keys() == slow_q.keys() and len(fast_q) > 5
    for name, q in fast_q.items():
        np.testing.assert_allclose(q.scale, slow_q[name].scale, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("case", ["lstm_fixed_batch", "embedding_int32", "broadcast_batch1", "two_inputs"])
def test_graphs_litert_must_run_specially_give_the_keras_ranges(case):
    import keras

    rng = np.random.default_rng(0)
    if case == "lstm_fixed_batch":  # RNN state in variable tensors; the file takes batch 1 only
        inp = keras.Input((6, 3), batch_size=1)
        out = keras.layers.Dense(2)(keras.layers.LSTM(5, return_sequences=True)(inp))
        data = rng.normal(size=(7, 6, 3)).astype(np.float32)
    elif case == "embedding_int32":  # integer token ids must reach LiteRT as int32
        inp = keras.Input((5,), dtype="int32")
        out = keras.layers.Dense(3)(keras.layers.LSTM(4)(keras.layers.Embedding(20, 6)(inp)))
        data = rng.integers(0, 20, (9, 5)).astype(np.int32)
    elif case == "broadcast_batch1":  # a shape written for batch 1: LiteRT runs sample by sample
        graph = Graph("broadcast")
        x = graph.add_tensor(Tensor("x", (-1, 1, 5)))
        y = graph.add_tensor(Tensor("y", (-1, 3, 5)))
        graph.inputs, graph.outputs = ["x"], ["y"]
        graph.add_op(Op("broadcast", "BROADCAST_TO"), [x, graph.const("to", [1, 3, 5], "int32")], [y])
        ours, reference = _both(graph, rng.normal(size=(6, 1, 5)).astype(np.float32))
        _assert_same_ranges(ours, reference)
        return
    else:
        a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
        inp = [a, b]
        out = keras.layers.Dense(2)(keras.layers.Concatenate()([keras.layers.Dense(5)(a), b]))
        data = {
            "a": rng.normal(size=(10, 4)).astype(np.float32),
            "b": rng.normal(size=(10, 3)).astype(np.float32),
        }
    graph = _float_graph(keras.Model(inp, out))
    ours, reference = _both(graph, data)
    _assert_same_ranges(ours, reference)


class _SquarePlugin:
    """An op with a Keras kernel and no TFLite encoding: LiteRT cannot run it."""

    @qgraph.hookimpl
    def qgraph_ops(self):
        return [qgraph.OpDef("MY_SQUARE", "x * x", shape="same", kernel=lambda ins, a: ins[0] * ins[0])]


def test_auto_falls_back_to_keras_and_says_why_litert_refuses_by_name():
    graph = Graph("plugin_op")
    x = graph.add_tensor(Tensor("x", (-1, 4)))
    y = graph.add_tensor(Tensor("y", (-1, 4)))
    graph.inputs, graph.outputs = ["x"], ["y"]
    graph.add_op(Op("square", "MY_SQUARE"), [x], [y])
    name = qgraph.register_plugin(_SquarePlugin(), name="square-op")
    try:
        data = np.linspace(-3, 2, 20, dtype=np.float32).reshape(5, 4)
        lines: list[str] = []
        ranges = calibrate(graph, data, log=lines.append)
        assert ranges["y"] == pytest.approx(((data**2).min(), 9.0), rel=1e-6)
        assert any("calibrating through Keras" in line and "MY_SQUARE" in line for line in lines), lines
        with pytest.raises(qgraph.OptionError, match="calibration_runtime='litert': LiteRT cannot run"):
            calibrate(graph, data, runtime="litert")
    finally:
        qgraph.unregister_plugin(name)


def test_streamed_calibration_reports_progress(digits, capsys):
    model, (x_train, _, _, _) = digits
    graph = _float_graph(model)
    stream = (x_train[k : k + 10] for k in range(0, 60, 10))
    ranges = calibrate(graph, stream, progress=True)
    _assert_same_ranges(ranges, calibrate(graph, x_train[:60], runtime="keras"))
    assert "calibrating activation ranges: 60 samples" in capsys.readouterr().err


def test_unknown_runtime_is_refused_by_name(digits):
    with pytest.raises(qgraph.OptionError, match="calibration_runtime='tpu'.*auto, litert, keras"):
        calibrate(_float_graph(digits[0]), digits[1][0][:4], runtime="tpu")
