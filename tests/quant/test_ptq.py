"""Post-training quantization end to end: every file runs in LiteRT and is checked against
Keras and against TFLiteConverter's output for the same model and calibration samples."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import qgraph
from qgraph.demo import accuracy_in_litert, run_tflite
from qgraph.emit.schema import S
from qgraph.quant.numerics import sqnr_db


def converter_int8(model, samples):
    import tensorflow as tf

    def representative():
        for s in samples:
            yield [s[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    with contextlib.redirect_stdout(io.StringIO()):
        return conv.convert()


def realistic_batchnorm(model, seed: int = 0):
    """`weights=None` models have BN statistics (0, 1) that make activations vanish; set
    them from one random batch (momentum 0 for one training-mode call)."""
    x = np.random.default_rng(seed).uniform(-1, 1, (8, *model.inputs[0].shape[1:])).astype(np.float32)
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    saved = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, m in zip(bns, saved, strict=True):
        layer.momentum = m
    return model


@pytest.fixture(scope="module")
def mobilenetv2():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classifier_activation=None)
    realistic_batchnorm(model)
    rng = np.random.default_rng(7)
    calibration = rng.uniform(-1, 1, (50, 96, 96, 3)).astype(np.float32)
    test = rng.uniform(-1, 1, (10, 96, 96, 3)).astype(np.float32)
    return model, calibration, test, model.predict(test, verbose=0)


def tensor_params(data: bytes):
    m = S.ModelT.InitFromPackedBuf(data, 0)
    return m, m.subgraphs[0]


def test_digits_int8_accuracy_matches_float_and_the_converter(digits):
    model, (x_train, _, x_test, y_test) = digits
    calibration = x_train[:100]
    float_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    ours, _, _ = accuracy_in_litert(
        qgraph.compile(model, quantize="int8", representative_data=calibration).tflite, x_test, y_test
    )
    theirs, _, _ = accuracy_in_litert(converter_int8(model, calibration), x_test, y_test)
    assert ours >= float_acc - 0.01, (ours, float_acc)
    assert ours >= theirs - 0.005, (ours, theirs)


def test_mobilenetv2_int8_sqnr_is_within_1db_of_the_converter(mobilenetv2):
    model, calibration, test, reference = mobilenetv2
    ours = qgraph.compile(model, quantize="int8", representative_data=calibration).tflite
    theirs = converter_int8(model, calibration)
    ours_db, theirs_db = (
        sqnr_db(reference, run_tflite(ours, test)),
        sqnr_db(reference, run_tflite(theirs, test)),
    )
    assert ours_db >= theirs_db - 1.0, (ours_db, theirs_db)
    assert ours_db > 5.0  # a working int8 model, not noise (random weights amplify rounding: ~8 dB)
    assert len(ours) <= 1.01 * len(theirs)


def test_int8_file_follows_the_int8_rules(zoo):
    model = zoo.get("concat_nested")
    x = zoo.sample(model, 16)
    result = qgraph.compile(model, quantize="int8", representative_data=x)
    m, sg = tensor_params(result.tflite)
    ops = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    names = [ops[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in m.operatorCodes]
    versions = dict(zip(names, [c.version for c in m.operatorCodes], strict=True))
    assert versions["CONV_2D"] == 3 and versions["DEPTHWISE_CONV_2D"] == 3 and versions["CONCATENATION"] == 2
    assert versions["QUANTIZE"] == 1 and versions["DEQUANTIZE"] == 2 and versions["FULLY_CONNECTED"] == 4
    for op in sg.operators:
        kind = names[op.opcodeIndex]
        tensors = [sg.tensors[i] for i in op.inputs]
        out = sg.tensors[op.outputs[0]]
        if kind == "CONCATENATION":
            assert len(tensors) == 3
            for t in tensors:
                assert (t.quantization.scale[0], t.quantization.zeroPoint[0]) == (
                    out.quantization.scale[0],
                    out.quantization.zeroPoint[0],
                )
        if kind == "CONV_2D":
            w, b = tensors[1], tensors[2]
            assert w.type == S.TensorType.INT8 and len(w.quantization.scale) == w.shape[0]
            assert b.type == S.TensorType.INT32
            expected = np.float32(tensors[0].quantization.scale[0]) * np.float32(w.quantization.scale)
            np.testing.assert_array_equal(np.float32(b.quantization.scale), expected)
            raw = np.frombuffer(bytes(m.buffers[w.buffer].data), np.int8)
            assert raw.min() >= -127
        if kind == "LOGISTIC":
            assert (out.quantization.scale[0], out.quantization.zeroPoint[0]) == (np.float32(1 / 256), -128)
    got = run_tflite(result.tflite, x)
    assert sqnr_db(model.predict(x, verbose=0), got) > 15.0


@pytest.mark.parametrize("io_dtype", ["int8", "uint8"])
def test_integer_io_runs_with_the_reported_parameters(digits, io_dtype):
    model, (x_train, _, x_test, y_test) = digits
    result = qgraph.compile(model, quantize="int8", representative_data=x_train[:100], io_dtype=io_dtype)
    acc, _, dtype = accuracy_in_litert(result.tflite, x_test, y_test)
    assert dtype == io_dtype and acc >= 0.9
    logged = [m for r in result.report.passes if r.name == "insert_io_quantize" for m in r.messages]
    assert any(m.startswith(f"input image: {io_dtype} scale=") for m in logged)


@pytest.mark.parametrize("mode, max_size_ratio", [("dynamic", 0.30), ("float16", 0.51)])
def test_weight_only_modes_shrink_the_file_and_match_the_converter(mobilenetv2, mode, max_size_ratio):
    import tensorflow as tf

    model, _, test, reference = mobilenetv2
    float_size = len(qgraph.compile(model).tflite)
    ours = qgraph.compile(model, quantize=mode).tflite
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = conv.convert()
    assert len(ours) <= max_size_ratio * float_size and len(ours) <= 1.01 * len(theirs)
    ours_db, theirs_db = (
        sqnr_db(reference, run_tflite(ours, test)),
        sqnr_db(reference, run_tflite(theirs, test)),
    )
    assert ours_db >= theirs_db - 1.0, (ours_db, theirs_db)


def test_edgetpu_gets_per_tensor_weights_and_int8_io(digits):
    model, (x_train, _, x_test, y_test) = digits
    result = qgraph.compile(model, target="edgetpu", representative_data=x_train[:100])
    m, sg = tensor_params(result.tflite)
    assert sg.tensors[sg.inputs[0]].type == S.TensorType.INT8
    assert all(
        t.quantization is None or t.quantization.scale is None or len(t.quantization.scale) == 1
        for t in sg.tensors
    )
    assert accuracy_in_litert(result.tflite, x_test, y_test)[0] >= 0.9


def two_input_model():
    import keras

    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    x = keras.layers.Concatenate()([keras.layers.Dense(4, activation="relu")(a), keras.layers.Dense(4)(b)])
    return keras.Model([a, b], keras.layers.Dense(3)(x))


def test_representative_data_in_every_form(zoo):
    import tensorflow as tf

    model = two_input_model()
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 6)).astype(np.float32), rng.normal(size=(40, 6)).astype(np.float32)
    forms = {
        "list of arrays": [a, b],
        "dict": {"a": a, "b": b},
        "generator of samples": ((a[i], b[i]) for i in range(40)),
        "tf.data batched": tf.data.Dataset.from_tensor_slices((a, b)).batch(7),
    }
    files = {
        name: qgraph.compile(model, quantize="int8", representative_data=d).tflite
        for name, d in forms.items()
    }
    assert len(set(files.values())) == 1, "every form of the same samples gives the same file"
    single = zoo.get("concat_nested")
    x = zoo.sample(single, 12)
    same = {
        qgraph.compile(single, quantize="int8", representative_data=d).tflite
        for d in (x, list(x), iter(x), tf.data.Dataset.from_tensor_slices(x))
    }
    assert len(same) == 1


def test_percentile_calibration_runs_and_clips(digits):
    model, (x_train, _, x_test, y_test) = digits
    result = qgraph.compile(
        model, quantize="int8", representative_data=x_train[:100], calibration_method="percentile"
    )
    assert accuracy_in_litert(result.tflite, x_test, y_test)[0] >= 0.9
    assert "percentile" in str(result.report)


def test_errors_name_what_is_wrong(tmp_path, digits):
    model, (x_train, _, _, _) = digits
    out = tmp_path / "m.tflite"
    with pytest.raises(qgraph.OptionError, match="needs representative_data.*'image'"):
        qgraph.compile(model, quantize="int8", output=out)
    with pytest.raises(qgraph.OptionError, match="input 'image' has shape \\(4, 5, 5, 1\\)"):
        qgraph.compile(
            model, quantize="int8", representative_data=np.zeros((4, 5, 5, 1), np.float32), output=out
        )
    with pytest.raises(qgraph.OptionError, match="io_dtype='int4'"):
        qgraph.compile(model, quantize="int8", representative_data=x_train[:8], io_dtype="int4", output=out)
    with pytest.raises(qgraph.OptionError, match="representative_data is only used with quantize='int8'"):
        qgraph.compile(model, quantize="float16", representative_data=x_train[:8])
    with pytest.raises(qgraph.OptionError, match="calibration_method='mse'"):
        qgraph.compile(model, quantize="int8", representative_data=x_train[:8], calibration_method="mse")
    assert not out.exists()


@pytest.mark.parametrize("name", ["layer_zoo", "concat_nested"])
def test_int8_of_every_supported_layer_matches_the_converter(zoo, name):
    model = zoo.get(name)
    calibration, test = zoo.sample(model, 40, seed=5), zoo.sample(model, 10, seed=6)
    reference = model.predict(test, verbose=0)
    ours = qgraph.compile(model, quantize="int8", representative_data=calibration).tflite
    ours_db = sqnr_db(reference, run_tflite(ours, test))
    theirs_db = sqnr_db(reference, run_tflite(converter_int8(model, calibration), test))
    assert ours_db >= theirs_db - 1.0, (ours_db, theirs_db)


def test_nnapi_api_level_decides_per_channel_weights(digits):
    model, (x_train, _, x_test, y_test) = digits

    def conv_weight_scales(data):
        _, sg = tensor_params(data)
        return {
            len(sg.tensors[op.inputs[1]].quantization.scale)
            for op in sg.operators
            if len(op.inputs) == 3 and len(sg.tensors[op.inputs[1]].shape) == 4
        }

    old = qgraph.compile(
        model, target="nnapi", quantize="int8", representative_data=x_train[:64], api_level=28
    )
    new = qgraph.compile(
        model, target="nnapi", quantize="int8", representative_data=x_train[:64], api_level=30
    )
    assert conv_weight_scales(old.tflite) == {1}
    assert len(conv_weight_scales(new.tflite)) > 1
    assert accuracy_in_litert(old.tflite, x_test, y_test)[0] >= 0.9
    with pytest.raises(qgraph.OptionError, match="api_level=12"):
        qgraph.compile(model, target="nnapi", api_level=12)


def test_switched_off_bn_channel_keeps_its_bias_like_the_converter():
    # gamma ~ 0, beta = 2 (a channel pruned by network slimming): the folded weights are ~0, so
    # input_scale * weight_scale is tiny and the int32 bias would overflow without widening.
    import keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 3)).astype(np.float32)
    inp = keras.Input((8, 8, 3))
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inp, keras.layers.ReLU()(bn(keras.layers.Conv2D(4, 3, padding="same")(inp))))
    bn.set_weights(
        [
            np.float32([1, 1e-6, 1, 1]),
            np.float32([0, 2, 0, 0]),
            np.zeros(4, np.float32),
            np.ones(4, np.float32),
        ]
    )
    reference = model.predict(x, verbose=0)
    result = qgraph.compile(model, quantize="int8", representative_data=x)
    got = run_tflite(result.tflite, x)
    assert abs(got[..., 1].mean() - 2.0) < 0.02
    theirs = run_tflite(converter_int8(model, x), x)
    assert sqnr_db(reference, got) >= sqnr_db(reference, theirs) - 1.0
    assert any("widened" in m for r in result.report.passes for m in r.messages)


def test_calibration_samples_of_different_sizes_and_bad_percentile():
    import keras

    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp))
    rng = np.random.default_rng(0)
    samples = [rng.normal(size=(8, 8, 3)).astype(np.float32), rng.normal(size=(12, 10, 3)).astype(np.float32)]
    result = qgraph.compile(model, quantize="int8", representative_data=iter(samples))
    assert result.report.ops_by_type["CONV_2D"] == 1
    with pytest.raises(qgraph.OptionError, match="percentile=0"):
        qgraph.compile(
            model,
            quantize="int8",
            representative_data=samples[:1],
            calibration_method="percentile",
            percentile=0,
        )


def test_model_output_that_is_its_input_compiles_to_a_copy():
    import keras

    inp = keras.Input((5,))
    model = keras.Model(inp, [keras.layers.Activation("linear")(inp), keras.layers.Dense(2)(inp)])
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=qgraph.compile(model).tflite)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x[:1])
    interp.invoke()
    outs = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    np.testing.assert_array_equal(next(o for o in outs if o.shape == (1, 5)), x[:1])
