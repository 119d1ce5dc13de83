"""Model inputs, QAT targets, float16 and options (issue 13, items 1, 2, 9 and 10).

- An integer model input read by float layers gets a CAST (int8: a uint8/int8 input is
  requantized by one QUANTIZE); indices stay integers for GATHER.
- A QAT model trained for one target and compiled for one without per-axis weights is
  requantized per tensor with a warning; `quantize_model(..., target=...)` trains for it.
- float16 keeps a constant float16 cannot hold in float32, with a warning naming it.
- Options that did nothing are refused, by name, with a suggestion for a misspelling.

Every written file runs in LiteRT and is compared with the Keras model.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from qgraph.errors import OptionError, TargetError
from qgraph.notices import CompileWarning
from qgraph.testing import run_litert
from tests.reliability.catalogue import Case, check, cli

RNG = np.random.default_rng(13)
PIXELS = RNG.integers(0, 256, (24, 8, 8, 3)).astype(np.uint8)
IDS = RNG.integers(-20, 21, (24, 4)).astype(np.int32)
FLOATS = RNG.uniform(-1, 1, (24, 8, 8, 3)).astype(np.float32)


# ---- models (built once: TensorFlow's import and Keras builds cost seconds) -------------------
@functools.cache
def uint8_image():
    """uint8 pixels (8, 8, 3) -> Rescaling(1/255) -> Conv2D(4, 3) -> Flatten -> Dense(3)."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 3), dtype="uint8", name="pixels")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(keras.layers.Rescaling(1 / 255)(inp))
    return keras.Model(inp, keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(x)))


@functools.cache
def int32_dense():
    """int32 ids (4,) -> Dense(3)."""
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((4,), dtype="int32", name="ids")
    return keras.Model(inp, keras.layers.Dense(3, name="dense")(inp))


@functools.cache
def ids_to_embedding_and_dense():
    """int32 ids (4,) -> Embedding (GATHER reads the integers) + Dense (reads them as float) -> Add."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((4,), dtype="int32", name="ids")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(41, 3)(inp))
    return keras.Model(inp, keras.layers.Add()([pooled, keras.layers.Dense(3, name="dense")(inp)]))


@functools.cache
def ops_cast():
    """uint8 pixels -> keras.ops.cast(x, "float32") / 255 -> Conv2D(4, 3)."""
    import keras

    keras.utils.set_random_seed(4)
    inp = keras.Input((8, 8, 3), dtype="uint8", name="pixels")
    x = keras.ops.cast(inp, "float32") / 255.0
    return keras.Model(inp, keras.layers.Conv2D(4, 3, name="conv")(x))


@functools.cache
def float_cnn(batch_size=None, size=8):
    """float (size, size, 3) -> Conv2D(4, 3, relu) -> Flatten -> Dense(3)."""
    import keras

    keras.utils.set_random_seed(5)
    inp = keras.Input((size, size, 3), batch_size=batch_size, name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    if size is None:
        return keras.Model(inp, x)
    return keras.Model(inp, keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(x)))


@functools.cache
def qat(target="cpu", **target_options):
    import qgraph

    return qgraph.quantize_model(float_cnn(), representative_data=FLOATS, target=target, **target_options)


@functools.cache
def huge_dense(value: float):
    """float (4,) -> Dense(2) with every weight `value` (beyond float16's 65504)."""
    import keras

    inp = keras.Input((4,), name="x")
    dense = keras.layers.Dense(2, name="dense")
    model = keras.Model(inp, dense(inp))
    dense.set_weights([np.full((4, 2), value, np.float32), np.zeros(2, np.float32)])
    return model


# ---- what the checks compare ------------------------------------------------------------------
def compile_(model, **kwargs):
    import qgraph

    return qgraph.compile(model, **kwargs)


def rel_err(result, model, x) -> float:
    """max |LiteRT - Keras| / max |Keras| of the written file."""
    reference = np.asarray(model.predict(x, verbose=0), np.float64)
    actual = np.asarray(run_litert(result.tflite, x), np.float64)
    assert actual.shape == reference.shape
    return float(np.abs(actual - reference).max() / np.abs(reference).max())


def file_ops(tflite: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite))
    return [op["op_name"] for op in interp._get_ops_details()]


def input_detail(tflite: bytes) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite))
    interp.allocate_tensors()
    return interp.get_input_details()[0]


def conv_weight_scales(tflite: bytes) -> int:
    """How many scales the CONV_2D weights carry in the file (1: per tensor)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite))
    conv = next(op for op in interp._get_ops_details() if op["op_name"] == "CONV_2D")
    detail = interp.get_tensor_details()[conv["inputs"][1]]
    return len(detail["quantization_parameters"]["scales"])


def compiled_warning(action):
    """(what `action()` returns, the CompileWarning messages it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
    return result, [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]


# ---- item 1: integer inputs -------------------------------------------------------------------
def check_uint8_float(result, tmp_path):
    assert input_detail(result.tflite)["dtype"] == np.uint8
    assert file_ops(result.tflite)[0] == "CAST"
    assert rel_err(result, uint8_image(), PIXELS) < 1e-5


def check_uint8_int8(result, tmp_path):
    detail = input_detail(result.tflite)
    assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)
    assert "CAST" not in file_ops(result.tflite)  # one QUANTIZE requantizes the integers
    assert rel_err(result, uint8_image(), PIXELS) < 0.03


def check_uint8_edgetpu(result, tmp_path):
    assert input_detail(result.tflite)["dtype"] == np.uint8
    assert set(file_ops(result.tflite)) <= {"QUANTIZE", "CONV_2D", "RESHAPE", "FULLY_CONNECTED"}
    assert rel_err(result, uint8_image(), PIXELS) < 0.03


def check_int32(tolerance):
    def check_(result, tmp_path):
        assert input_detail(result.tflite)["dtype"] == np.int32
        assert "CAST" in file_ops(result.tflite)
        assert rel_err(result, int32_dense(), IDS) < tolerance

    return check_


def check_close(result, model, x):
    assert rel_err(result, model, x) < 1e-5


def check_ids_both_ways(result, tmp_path):
    ops = file_ops(result.tflite)
    assert ops.count("CAST") == 1 and "GATHER" in ops  # GATHER reads the integers as they are
    assert rel_err(result, ids_to_embedding_and_dense(), IDS + 20) < 1e-5


def check_uint8_qat(result, tmp_path):
    qat_model, compiled = result
    reference = qat_model.predict(PIXELS, verbose=0)
    exported = run_litert(compiled.tflite, PIXELS)
    assert input_detail(compiled.tflite)["dtype"] == np.uint8
    assert np.abs(exported - reference).max() <= 0.03 * np.abs(reference).max()


def uint8_qat(tmp_path):
    import qgraph

    model = qgraph.quantize_model(uint8_image(), representative_data=PIXELS)
    return model, qgraph.compile(model)


INPUT_CASES = [
    Case(
        "model-uint8-input-float",
        1,
        "`Input((8,8,3), dtype='uint8') -> Rescaling(1/255) -> Conv2D`, compiled float",
        lambda tmp: compile_(uint8_image()),
        says="works: a CAST to float32 after the uint8 input; LiteRT matches Keras",
        check=check_uint8_float,
    ),
    Case(
        "model-uint8-input-int8",
        1,
        "the same uint8 model, `quantize='int8'`",
        lambda tmp: compile_(uint8_image(), quantize="int8", representative_data=PIXELS),
        says="works: the uint8 input (scale 1, zero point 0) is requantized by one QUANTIZE; matches Keras",
        check=check_uint8_int8,
    ),
    Case(
        "model-uint8-input-edgetpu",
        1,
        "the same uint8 model, `target='edgetpu'`",
        lambda tmp: compile_(uint8_image(), target="edgetpu", representative_data=PIXELS),
        says="works: uint8 input, QUANTIZE then int8 ops only (no CAST, which the EdgeTPU lacks)",
        check=check_uint8_edgetpu,
    ),
    Case(
        "model-uint8-input-qat",
        1,
        "`quantize_model` of the uint8 model, then `compile`",
        uint8_qat,
        says="works: the uint8 input gets no fake-quant; the file matches the QAT model",
        check=check_uint8_qat,
    ),
    Case(
        "model-int32-input-float",
        1,
        "`Input((4,), dtype='int32') -> Dense`, compiled float",
        lambda tmp: compile_(int32_dense()),
        says="works: CAST int32 -> float32 before FULLY_CONNECTED; LiteRT matches Keras",
        check=check_int32(1e-6),
    ),
    Case(
        "model-int32-input-int8",
        1,
        "the same int32 model, `quantize='int8'`",
        lambda tmp: compile_(int32_dense(), quantize="int8", representative_data=IDS),
        says="works: CAST, then QUANTIZE to int8; matches Keras within quantization error",
        check=check_int32(0.03),
    ),
    Case(
        "model-int32-input-edgetpu",
        1,
        "the same int32 model, `target='edgetpu'`",
        lambda tmp: compile_(int32_dense(), target="edgetpu", representative_data=IDS),
        error=TargetError,
        match=r"dense/cast_ids \(CAST\): op not supported by target 'edgetpu' \(it converts the int32 "
        r"input 'ids' to float for layer 'dense'",
        says="TargetError: dense/cast_ids (CAST): op not supported by target 'edgetpu' (it converts the int32 input 'ids' to float for layer 'dense'; declare that input float32, or uint8 / int8, which an int8 file takes as they are)",
    ),
    Case(
        "model-int32-input-embedding-and-dense",
        1,
        "int32 ids read by an Embedding and by a Dense",
        lambda tmp: compile_(ids_to_embedding_and_dense()),
        says="works: GATHER reads the int32 ids, the Dense reads them through a CAST",
        check=check_ids_both_ways,
    ),
    Case(
        "model-uint8-keras-ops-cast",
        1,
        "uint8 input -> `keras.ops.cast(x, 'float32') / 255` -> Conv2D",
        lambda tmp: compile_(ops_cast()),
        says="works: the cast is lowered (CAST); LiteRT matches Keras",
        check=lambda result, tmp: check_close(result, ops_cast(), PIXELS),
    ),
]


# ---- item 2: a QAT model exported for another target ----------------------------------------
def check_requantized(target: str):
    def check_(result, tmp_path):
        compiled, messages = result
        assert conv_weight_scales(compiled.tflite) == 1
        assert any(f"target '{target}" in m and "requantized per tensor" in m for m in messages)
        assert any("requantized per tensor" in w for w in compiled.report.warnings)
        reference = qat().predict(FLOATS, verbose=0)
        exported = run_litert(compiled.tflite, FLOATS)
        assert np.abs(exported - reference).max() <= 0.05 * np.abs(reference).max()

    return check_


def check_trained_for(target: str):
    def check_(result, tmp_path):
        compiled, messages = result
        assert conv_weight_scales(compiled.tflite) == 1 and not messages
        assert rel_err(compiled, float_cnn(), FLOATS) < 0.05

    return check_


QAT_CASES = [
    Case(
        "model-qat-cpu-compiled-for-edgetpu",
        2,
        "`quantize_model(m)` (cpu: per-channel weights), then `compile(qat, target='edgetpu')`",
        lambda tmp: compiled_warning(lambda: compile_(qat(), target="edgetpu")),
        says="works: weights requantized per tensor, learned ranges kept; a CompileWarning and a "
        "report line say so and how to train for the target",
        check=check_requantized("edgetpu"),
    ),
    Case(
        "model-qat-cpu-compiled-for-nnapi-28",
        2,
        "`quantize_model(m)`, then `compile(qat, target='nnapi', api_level=28)`",
        lambda tmp: compiled_warning(lambda: compile_(qat(), target="nnapi", api_level=28)),
        says="works: per-tensor weights (NNAPI < 29 has no per-channel), with a CompileWarning",
        check=check_requantized("nnapi"),
    ),
    Case(
        "model-qat-trained-for-edgetpu",
        2,
        "`quantize_model(m, target='edgetpu')`, then `compile(qat, target='edgetpu')`",
        lambda tmp: compiled_warning(lambda: compile_(qat("edgetpu"), target="edgetpu")),
        says="works: training simulated per-tensor weights; no warning",
        check=check_trained_for("edgetpu"),
    ),
    Case(
        "model-qat-trained-for-nnapi-28",
        2,
        "`quantize_model(m, target='nnapi', api_level=28)`, then the same compile",
        lambda tmp: compiled_warning(
            lambda: compile_(qat("nnapi", api_level=28), target="nnapi", api_level=28)
        ),
        says="works: the target's options go to quantize_model; per-tensor weights, no warning",
        check=check_trained_for("nnapi"),
    ),
    Case(
        "option-quantize-model-misspelled-target-option",
        2,
        "`quantize_model(m, target='nnapi', api_levl=28)`",
        lambda tmp: qat("nnapi", api_levl=28),
        error=OptionError,
        match=r"unknown keyword 'api_levl' \(did you mean 'api_level'\?\).*options of target 'nnapi': api_level",
        says="OptionError: quantize_model got an unknown keyword 'api_levl' (did you mean 'api_level'?); it takes layers, ..., and the options of target 'nnapi': api_level, allow_cpu",
    ),
]


# ---- item 9: float16 overflow ---------------------------------------------------------------
def check_kept_float32(value: float):
    def check_(result, tmp_path):
        compiled, messages = result
        x = np.ones((2, 4), np.float32)
        assert np.isfinite(run_litert(compiled.tflite, x)).all()
        assert rel_err(compiled, huge_dense(value), x + RNG.uniform(0, 1, (2, 4)).astype(np.float32)) < 1e-6
        assert any("dense/kernel" in m and "kept in float32" in m for m in messages)
        assert any("kept in float32" in w for w in compiled.report.warnings)

    return check_


FLOAT16_CASES = [
    Case(
        f"model-float16-weights-{label}",
        9,
        f"Dense weights of {value:g}, `quantize='float16'`",
        lambda tmp, value=value: compiled_warning(lambda: compile_(huge_dense(value), quantize="float16")),
        says="works: that kernel stays float32 (float16 would give inf); a CompileWarning names it",
        check=check_kept_float32(value),
    )
    for label, value in (("1e5", 1e5), ("1e30", 1e30))
]


# ---- item 10: options that were silently ignored --------------------------------------------
def check_batch_one(result, tmp_path):
    assert list(input_detail(result.tflite)["shape"]) == [1, 8, 8, 3]
    assert rel_err(result, float_cnn(), FLOATS) < 0.05


OPTION_CASES = [
    Case(
        "option-edgetpu-dynamic-shape",
        10,
        "`Input((None, None, 3))`, `target='edgetpu'`",
        lambda tmp: compile_(float_cnn(size=None), target="edgetpu", representative_data=FLOATS),
        error=TargetError,
        match=r"input 'image' has shape \(None, None, None, 3\) with unknown dimensions 1, 2; "
        r"target 'edgetpu' needs static shapes",
        says="TargetError: input 'image' has shape (None, None, None, 3) with unknown dimensions 1, 2; target 'edgetpu' needs static shapes: give keras.Input a fixed shape",
    ),
    Case(
        "option-edgetpu-batch-4",
        10,
        "`Input((8,8,3), batch_size=4)`, `target='edgetpu'`",
        lambda tmp: compile_(float_cnn(batch_size=4), target="edgetpu", representative_data=FLOATS),
        error=TargetError,
        match=r"input 'image' has batch 4 .*target 'edgetpu' runs one sample at a time",
        says="TargetError: input 'image' has batch 4 (shape (4, 8, 8, 3)); target 'edgetpu' runs one sample at a time: build the model with batch 1 or None",
    ),
    Case(
        "option-edgetpu-batch-none",
        10,
        "`Input((8,8,3))` (batch None), `target='edgetpu'`",
        lambda tmp: compile_(float_cnn(), target="edgetpu", representative_data=FLOATS),
        says="works: the batch is written as 1 (static shapes); LiteRT matches Keras",
        check=check_batch_one,
    ),
    Case(
        "option-io-dtype-with-float",
        10,
        "`compile(m, quantize='float', io_dtype='uint8')`",
        lambda tmp: compile_(float_cnn(), quantize="float", io_dtype="uint8"),
        error=OptionError,
        match=r"io_dtype is only used with quantize='int8' \(got target 'cpu', quantize='float'\)",
        says="OptionError: io_dtype is only used with quantize='int8' (got target 'cpu', quantize='float') ...; options accepted here: sparse; and compile's own: target, quantize, output",
    ),
    Case(
        "option-per-channel-dense-with-float",
        10,
        "`compile(m, quantize='float', per_channel_dense=True)`",
        lambda tmp: compile_(float_cnn(), quantize="float", per_channel_dense=True),
        error=OptionError,
        match=r"per_channel_dense is only used with quantize='int8'",
        says="OptionError: per_channel_dense is only used with quantize='int8' ...",
    ),
    Case(
        "option-calibration-method-with-float",
        10,
        "`compile(m, quantize='float', calibration_method='percentile')`",
        lambda tmp: compile_(float_cnn(), quantize="float", calibration_method="percentile"),
        error=OptionError,
        match=r"calibration_method is only used with quantize='int8'",
        says="OptionError: calibration_method is only used with quantize='int8' ...",
    ),
    Case(
        "option-per-channel-dense-on-edgetpu",
        10,
        "`compile(m, target='edgetpu', per_channel_dense=True)`",
        lambda tmp: compile_(
            float_cnn(), target="edgetpu", per_channel_dense=True, representative_data=FLOATS
        ),
        error=OptionError,
        match=r"per_channel_dense=True: target 'edgetpu' runs per-tensor weights only",
        says="OptionError: per_channel_dense=True: target 'edgetpu' runs per-tensor weights only (no per-axis quantization) ...; drop the option",
    ),
    Case(
        "option-quantize-empty",
        10,
        "`compile(m, quantize='')`",
        lambda tmp: compile_(float_cnn(), quantize=""),
        error=OptionError,
        match=r"quantize='' is not a quantization mode; choose one of float, dynamic, float16, int8",
        says="OptionError: quantize='' is not a quantization mode; choose one of float, dynamic, float16, int8 (or None: the target's default, int8 for a QAT model)",
    ),
    Case(
        "option-quantize-misspelled",
        10,
        "`compile(m, quantize='int')`",
        lambda tmp: compile_(float_cnn(), quantize="int"),
        error=OptionError,
        match=r"quantize='int' is not a quantization mode \(did you mean 'int8'\?\)",
        says="OptionError: quantize='int' is not a quantization mode (did you mean 'int8'?); choose one of ...",
    ),
    Case(
        "option-quantize-model-unknown-layer",
        10,
        "`quantize_model(m, layers=['no_such_layer'])`",
        lambda tmp: __import__("qgraph").quantize_model(float_cnn(), layers=["no_such_layer", "conv"]),
        error=OptionError,
        match=r"no layer of model '\w+' is named or of class 'no_such_layer'; its layers: conv \(Conv2D\)",
        says="OptionError: quantize_model(layers=...): no layer of model 'functional' is named or of class 'no_such_layer'; its layers: conv (Conv2D), flatten (Flatten), dense (Dense)",
    ),
    Case(
        "option-quantize-model-of-qat-model",
        10,
        "`quantize_model(qat_model)`",
        lambda tmp: __import__("qgraph").quantize_model(qat()),
        error=OptionError,
        match=r"is already a QAT model .*which quantize_model would drop",
        says="OptionError: model 'functional_qat' is already a QAT model (it has qgraph's fake-quant layers and their learned ranges, which quantize_model would drop): train it further, or export it with qgraph.compile",
    ),
    Case(
        "option-target-none",
        10,
        "`compile(m, target=None)`",
        lambda tmp: compile_(float_cnn(), target=None),
        error=TargetError,
        match=r"target=None is not a target; known targets: cpu, edgetpu, ethos-u, nnapi",
        says="TargetError: target=None is not a target; known targets: cpu, edgetpu, ethos-u, nnapi (a name, or a qgraph.Target)",
    ),
    Case(
        "option-target-misspelled",
        10,
        "`compile(m, target='edgtpu')`",
        lambda tmp: compile_(float_cnn(), target="edgtpu"),
        error=TargetError,
        match=r"unknown target 'edgtpu' \(did you mean 'edgetpu'\?\)",
        says="TargetError: unknown target 'edgtpu' (did you mean 'edgetpu'?); known targets: cpu, edgetpu, ethos-u, nnapi",
    ),
    Case(
        "option-target-wrong-case",
        10,
        "`compile(m, target='EdgeTPU')`",
        lambda tmp: compile_(float_cnn(), target="EdgeTPU"),
        error=TargetError,
        match=r"unknown target 'EdgeTPU' \(did you mean 'edgetpu'\?\)",
        says="TargetError: unknown target 'EdgeTPU' (did you mean 'edgetpu'?); known targets: cpu, edgetpu, ethos-u, nnapi",
    ),
    Case(
        "option-misspelled",
        10,
        "`compile(m, quantize='int8', representative_dat=x)`",
        lambda tmp: compile_(float_cnn(), quantize="int8", representative_dat=FLOATS),
        error=OptionError,
        match=r"unknown option 'representative_dat' .*\(did you mean 'representative_data'\?\)",
        says="OptionError: unknown option 'representative_dat' for target 'cpu', quantize='int8' (did you mean 'representative_data'?); options accepted here: ...",
    ),
    Case(
        "option-unknown-lists-general-options",
        10,
        "`compile(m, target='nnapi', foo=1)`",
        lambda tmp: compile_(float_cnn(), target="nnapi", foo=1),
        error=OptionError,
        match=r"options accepted here: allow_cpu, api_level; and compile's own: target, quantize, output",
        says="OptionError: unknown option 'foo' for target 'nnapi', quantize='float'; options accepted here: allow_cpu, api_level; and compile's own: target, quantize, output",
    ),
    Case(
        "option-cli-edgetpu-batch-4",
        10,
        "`qgraph compile m.keras --target edgetpu` for a batch-4 model",
        lambda tmp: cli(
            "compile", saved(float_cnn(batch_size=4), tmp), "-o", str(tmp / "m.tflite"), "--target", "edgetpu"
        ),
        error=SystemExit,
        match=r"input 'image' has batch 4",
        says="exit 2, `qgraph: error: input 'image' has batch 4 (shape (4, 8, 8, 3)); target 'edgetpu' runs one sample at a time ...`",
    ),
    Case(
        "option-cli-calibration-method-with-float",
        10,
        "`qgraph compile m.keras --quantize float --calibration-method minmax`",
        lambda tmp: cli(
            "compile",
            saved(float_cnn(), tmp),
            "-o",
            str(tmp / "m.tflite"),
            "--quantize",
            "float",
            "--calibration-method",
            "minmax",
        ),
        error=SystemExit,
        match=r"calibration_method is only used with quantize='int8'",
    ),
]


def saved(model, tmp_path) -> str:
    path = tmp_path / "m.keras"
    model.save(path)
    return str(path)


CASES: list[Case] = INPUT_CASES + QAT_CASES + FLOAT16_CASES + OPTION_CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)
