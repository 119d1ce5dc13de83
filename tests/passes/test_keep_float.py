"""keep_float: the named layers' ops stay float in an int8 model, with DEQUANTIZE/QUANTIZE at
their borders; the file runs in LiteRT and the kept layer's weights are float32."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.errors import OptionError
from qgraph.testing import run_litert, sqnr_db


def _ops_and_weights(tflite: bytes) -> tuple[list[str], dict[str, str]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    ops = [op["op_name"] for op in interp._get_ops_details()]
    dtypes = {t["name"]: np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
    return ops, dtypes


@pytest.fixture(scope="module")
def digits_int8(digits):
    model, (x_train, _, x_test, _) = digits
    return model, x_train[:100], x_test[:200]


def test_a_kept_layer_runs_float_between_int8_layers(digits_int8):
    model, calib, x = digits_int8
    full = qgraph.compile(model, quantize="int8", representative_data=calib)
    kept = qgraph.compile(model, quantize="int8", representative_data=calib, keep_float=["head_relu"])
    ops, dtypes = _ops_and_weights(kept.tflite)
    # head_conv (which absorbed head_bn and head_relu) reads a DEQUANTIZE and feeds a QUANTIZE.
    k = ops.index("CONV_2D", ops.index("MAX_POOL_2D"))
    assert ops[k - 1 : k + 2] == ["DEQUANTIZE", "CONV_2D", "QUANTIZE"]
    kernels = {name.split("/")[0]: dtype for name, dtype in dtypes.items() if "/kernel" in name}
    assert kernels["head_conv"] == "float32" and kernels["stem"] == kernels["probs"] == "int8"
    assert "kept float on request: head_conv" in str(kept.report)
    reference = model.predict(x, verbose=0)
    got = run_litert(kept.tflite, x)
    assert sqnr_db(got, reference) > sqnr_db(run_litert(full.tflite, x), reference) - 1.0
    assert len(kept.tflite) > len(full.tflite)  # 32x3x3x32 float weights instead of int8


def test_names_that_select_no_op_are_refused_with_the_names_that_do(digits_int8):
    model, calib, _ = digits_int8
    with pytest.raises(OptionError, match=r"keep_float names 'head_bn'.*float: .*head_conv.*head_relu"):
        qgraph.compile(model, quantize="int8", representative_data=calib, keep_float=["head_bn"])
    with pytest.raises(
        OptionError, match=r"keep_float takes a list of layer names, e.g. keep_float=\['stem'\]"
    ):
        qgraph.compile(model, quantize="int8", representative_data=calib, keep_float="stem")
    with pytest.raises(OptionError, match="keep_float is only used with quantize='int8'"):
        qgraph.compile(model, quantize="float", keep_float=["stem"])


def test_a_target_of_int8_models_only_refuses_a_float_layer(digits_int8):
    model, calib, _ = digits_int8
    with pytest.raises(
        OptionError, match="target 'edgetpu' runs int8 models only, so no layer can stay float"
    ):
        qgraph.compile(model, target="edgetpu", representative_data=calib, keep_float=["side"])
    # ... unless it lets ops fall back to the CPU: the float op is then named as a CPU op
    r = qgraph.compile(
        model, target="edgetpu", representative_data=calib, keep_float=["side"], allow_cpu=True
    )
    assert run_litert(r.tflite, calib[:2].astype(np.int8)).shape == (2, 10)
