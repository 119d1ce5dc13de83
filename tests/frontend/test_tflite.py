""".tflite -> IR: qgraph's own files read back byte for byte; converter files read and rewrite."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import qgraph
from qgraph.demo import run_tflite
from qgraph.emit.tflite import serialize


@pytest.mark.parametrize("mode", ["float", "int8", "dynamic", "float16"])
@pytest.mark.parametrize("name", ["concat_nested", "layer_zoo"])
def test_qgraph_files_read_back_and_rewrite_byte_for_byte(zoo, name, mode):
    model = zoo.get(name)
    x = zoo.sample(model, 8)
    data = qgraph.compile(model, quantize=mode, representative_data=x if mode == "int8" else None).tflite
    graph = qgraph.load(data)
    graph.lint()
    assert serialize(graph, description=graph.meta["description"]) == data


def test_converter_files_read_and_rewrite_to_the_same_results(zoo, tmp_path, capsys):
    import tensorflow as tf

    from qgraph.cli import main
    from tests.quant.test_ptq import converter_int8

    model = zoo.get("mobilenetv2")
    x = zoo.sample(model, 4)
    with contextlib.redirect_stdout(io.StringIO()):
        float_file = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    for data in (float_file, converter_int8(model, x)):
        graph = qgraph.load(data)
        graph.lint()
        np.testing.assert_array_equal(run_tflite(serialize(graph), x), run_tflite(data, x))
    (tmp_path / "m.tflite").write_bytes(float_file)
    assert main(["inspect", str(tmp_path / "m.tflite")]) == 0
    assert "DEPTHWISE_CONV_2D          17" in capsys.readouterr().out


def test_not_a_tflite_file_is_refused(tmp_path):
    (tmp_path / "bad.tflite").write_bytes(b"0123456789")
    with pytest.raises(qgraph.QGraphError, match="not a TFLite flatbuffer"):
        qgraph.load(tmp_path / "bad.tflite")
