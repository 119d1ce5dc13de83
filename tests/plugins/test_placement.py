"""Every report says where the ops run: all on the accelerator, or (with `allow_cpu`) which
fall back to the CPU, starting with the first and why; without `allow_cpu` that op is an error."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.testing import run_litert, sqnr_db


@pytest.fixture(scope="module")
def gelu_model():
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
    x = keras.layers.Activation("gelu", name="gelu")(x)
    out = keras.layers.Conv2D(4, 1, name="project")(x)
    data = np.random.default_rng(0).normal(size=(24, 8, 8, 3)).astype(np.float32)
    return keras.Model(inp, out), data


def test_a_supported_model_runs_entirely_on_the_accelerator(digits):
    model, (x_train, *_) = digits
    r = qgraph.compile(model, target="edgetpu", representative_data=x_train[:50])
    n = sum(r.report.ops_by_type.values())
    assert r.report.placement == [f"all {n} ops on edgetpu (qgraph's edgetpu table)"]
    assert f"placement: all {n} ops on edgetpu" in str(r.report)
    assert qgraph.compile(model, target="cpu").report.placement == []


@pytest.mark.parametrize("target", ["edgetpu", "nnapi"])
def test_the_first_op_on_the_cpu_is_named_and_needs_allow_cpu(gelu_model, target, tmp_path):
    model, data = gelu_model
    out = tmp_path / "m.tflite"
    with pytest.raises(qgraph.TargetError, match=r"gelu \(GELU\): op not supported.*allow_cpu=True"):
        qgraph.compile(model, target=target, quantize="int8", representative_data=data, output=out)
    assert not out.exists()
    r = qgraph.compile(
        model, target=target, quantize="int8", representative_data=data, output=out, allow_cpu=True
    )
    n = sum(r.report.ops_by_type.values())  # nnapi's float I/O adds QUANTIZE and DEQUANTIZE
    assert r.report.placement == [
        f"{n - 1} of {n} ops on {target}, 1 on the CPU; first: gelu (GELU): op not supported by target {target!r}"
    ]
    assert sqnr_db(run_litert(out.read_bytes(), data[:8]), model.predict(data[:8], verbose=0)) > 20.0
