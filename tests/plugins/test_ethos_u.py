"""Target `ethos-u`: full-int8 files that Arm's Vela compiler (installed from the test extra)
puts on the NPU, checked by Vela itself, and run in LiteRT against Keras and the converter."""

from __future__ import annotations

import os

import numpy as np
import pytest

import qgraph
from qgraph.demo import accuracy_in_litert
from qgraph.testing import converter_int8, realistic_statistics, run_litert, sqnr_db

pytest.importorskip("ethosu.vela", reason="ethos-u-vela is part of the test extra")


def test_digits_cnn_runs_entirely_on_the_npu_and_matches_keras(digits, tmp_path):
    model, (x_train, y_train, x_test, y_test) = digits
    out = tmp_path / "digits.tflite"
    r = qgraph.compile(model, target="ethos-u", representative_data=x_train[:100], output=out, vela=True)
    vela = r.report.figures["vela"]
    assert vela["cpu_ops"] == 0 and vela["npu_ops"] > 0, r.report.placement
    assert vela["flash_kib"] > 0 and vela["sram_kib"] > 0 and vela["inference_ms"] > 0
    assert vela["accelerator"] == "Ethos_U55_128"
    assert any("100.0%" in line for line in r.report.placement)
    # Vela's optimized file sits next to the output; the output is the plain int8 file.
    assert r.extra_paths == {"_vela.tflite": str(tmp_path / "digits_vela.tflite")}
    assert (tmp_path / "digits_vela.tflite").read_bytes() == r.extras["_vela.tflite"]
    assert out.read_bytes() == r.tflite

    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=r.tflite)
    (inp,), (outp,) = interp.get_input_details(), interp.get_output_details()
    assert inp["dtype"] == np.int8 and outp["dtype"] == np.int8  # full int8 I/O by default
    assert list(inp["shape_signature"]) == [1, 8, 8, 1]  # static batch, as Vela wants

    keras_acc = float((model.predict(x_test, verbose=0).argmax(-1) == y_test).mean())
    ours, _, io_dtype = accuracy_in_litert(r.tflite, x_test, y_test)
    theirs, _, _ = accuracy_in_litert(converter_int8(model, x_train[:100]), x_test, y_test)
    assert io_dtype == "int8"
    assert ours >= keras_acc - 0.02 and ours >= theirs - 0.01, (ours, keras_acc, theirs)


@pytest.fixture(scope="module")
def mobilenet_v2_035():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        alpha=0.35, input_shape=(96, 96, 3), weights=None, classes=10, classifier_activation=None
    )
    rng = np.random.default_rng(3)
    calibration = rng.uniform(-1, 1, (20, 96, 96, 3)).astype(np.float32)
    held_out = rng.uniform(-1, 1, (6, 96, 96, 3)).astype(np.float32)
    realistic_statistics(model, calibration)
    return model, calibration, held_out


def test_mobilenet_v2_035_96_runs_entirely_on_the_npu(mobilenet_v2_035):
    model, calibration, held_out = mobilenet_v2_035
    r = qgraph.compile(model, target="ethos-u", representative_data=calibration)
    vela = r.report.figures["vela"]
    assert vela["cpu_ops"] == 0 and vela["npu_ops"] >= 60, r.report.placement
    assert 300 < vela["flash_kib"] < 2000  # ~0.4 M int8 weights after Vela's compression
    assert r.extras == {}  # without vela=True, Vela's file is not kept

    reference = model.predict(held_out, verbose=0)
    ours = sqnr_db(run_litert(r.tflite, held_out), reference)
    theirs = sqnr_db(run_litert(converter_int8(model, calibration), held_out), reference)
    # Random weights, deep net: both tools land near 6-7 dB on random inputs; the check is that
    # the full-int8 (int8 I/O) file is as close to Keras as the converter's.
    assert ours >= theirs - 1.5, (ours, theirs)


def _embedding_model():
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((6,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(50, 8, name="embed")(inp)
    out = keras.layers.Dense(4, name="head")(keras.layers.Flatten()(x))
    tokens = np.random.default_rng(0).integers(0, 50, (16, 6)).astype(np.int32)
    return keras.Model(inp, out), tokens


def test_an_op_the_npu_cannot_run_is_named_and_refused_without_allow_cpu(tmp_path):
    model, tokens = _embedding_model()
    out = tmp_path / "embed.tflite"
    with pytest.raises(qgraph.TargetError, match=r"GATHER 'embed.*Unsupported opType.*allow_cpu=True"):
        qgraph.compile(model, target="ethos-u", representative_data=tokens, output=out, vela=True)
    assert os.listdir(tmp_path) == []  # neither the output nor Vela's file

    r = qgraph.compile(
        model, target="ethos-u", representative_data=tokens, output=out, vela=True, allow_cpu=True
    )
    assert r.report.figures["vela"]["cpu_ops"] == 1
    assert any("on the CPU (Vela): GATHER 'embed" in line for line in r.report.placement)
    assert "GATHER" in str(r.report)
    expected = model.predict(tokens, verbose=0)
    assert sqnr_db(run_litert(r.tflite, tokens), expected) > 25.0


def test_without_vela_the_table_refuses_and_names_the_op():
    model, tokens = _embedding_model()
    with pytest.raises(qgraph.TargetError, match=r"embed \(GATHER\): op not supported by target 'ethos-u'"):
        qgraph.compile(model, target="ethos-u", representative_data=tokens, vela=False)
    r = qgraph.compile(model, target="ethos-u", representative_data=tokens, vela=False, allow_cpu=True)
    assert r.report.figures == {}
    assert r.report.placement[0].startswith("2 of 3 ops on ethos-u, 1 on the CPU; first: embed (GATHER)")


def test_u85_runs_gather_on_the_npu():
    model, tokens = _embedding_model()
    r = qgraph.compile(
        model, target="ethos-u", representative_data=tokens, accelerator_config="ethos-u85-256"
    )
    assert r.report.figures["vela"]["cpu_ops"] == 0
    assert r.report.figures["vela"]["accelerator"] == "Ethos_U85_256"


def test_accelerator_config_is_checked_against_vela():
    model, tokens = _embedding_model()
    with pytest.raises(qgraph.OptionError, match="accelerator_config='ethos-u99'.*ethos-u55-128"):
        qgraph.compile(model, target="ethos-u", representative_data=tokens, accelerator_config="ethos-u99")
    with pytest.raises(qgraph.TargetError, match="does not run quantize='float'"):
        qgraph.compile(model, target="ethos-u", quantize="float")


def test_without_vela_installed_vela_true_says_how_to_install(monkeypatch, digits):
    from qgraph.plugins import ethos_u

    monkeypatch.setattr(ethos_u, "vela_version", lambda: None)
    model, (x_train, *_) = digits
    with pytest.raises(qgraph.TargetError, match="pip install ethos-u-vela"):
        qgraph.compile(model, target="ethos-u", representative_data=x_train[:20], vela=True)
    r = qgraph.compile(model, target="ethos-u", representative_data=x_train[:20])
    assert r.report.placement[-1].startswith("Vela is not installed, so only qgraph's table was checked")
