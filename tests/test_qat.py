"""Quantization-aware training: quantize_model -> fit -> compile, checked in LiteRT."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import qgraph
from qgraph.demo import accuracy_in_litert, run_tflite


def fit_qat(qat, x, y, epochs=5, lr=1e-4):
    import keras

    qat.compile(
        optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    qat.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return qat


@pytest.fixture(scope="module")
def trained_qat(digits):
    model, (x_train, y_train, x_test, y_test) = digits
    qat = fit_qat(qgraph.quantize_model(model), x_train, y_train)
    return model, qat, qgraph.compile(qat)


def test_qat_int8_accuracy_holds_and_litert_agrees_with_the_qat_model(digits, trained_qat):
    model, qat, result = trained_qat
    _, (_, _, x_test, y_test) = digits
    float_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    int8_acc, probs, io = accuracy_in_litert(result.tflite, x_test, y_test)
    assert int8_acc >= float_acc - 0.005, (int8_acc, float_acc)
    agree = np.mean(probs.argmax(1) == qat.predict(x_test, verbose=0).argmax(1))
    assert agree >= 0.99
    assert result.report.quantize == "int8" and io == "float32"
    assert "DEQUANTIZE" in result.report.ops_by_type and "BATCH_NORM" not in str(result.report.ops_by_type)


def test_qat_model_structure_puts_fake_quant_where_int8_rounds(trained_qat):
    _, qat, _ = trained_qat
    names = [layer.name for layer in qat.layers]
    assert "fq_stem_relu6_0" in names and "fq_concat_0" in names
    assert not any(n.startswith("fq_pool") for n in names)  # max pool keeps its input's grid
    assert not any(n.startswith("fq_dw_project") for n in names)  # concat inputs share the concat's quantizer
    assert not any("bn" in n for n in names)  # BatchNorm folded and frozen
    softmax_q = qat.get_layer("fq_probs_0")
    assert softmax_q.fixed == [0.0, 255 / 256]


def test_save_load_round_trip(tmp_path, digits, trained_qat):
    import keras

    _, qat, result = trained_qat
    _, (_, _, x_test, y_test) = digits
    qat.save(tmp_path / "qat.keras")
    again = keras.models.load_model(tmp_path / "qat.keras")
    np.testing.assert_allclose(
        again.predict(x_test[:32], verbose=0), qat.predict(x_test[:32], verbose=0), atol=1e-6
    )
    assert qgraph.compile(again).tflite == result.tflite
    assert qgraph.compile(str(tmp_path / "qat.keras")).tflite == result.tflite
    # A fresh process needs nothing but `import qgraph` to load the saved QAT model.
    script = f"import qgraph, keras; m = keras.models.load_model({str(tmp_path / 'qat.keras')!r}); print(len(m.layers))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == len(qat.layers)


def test_selected_layers_only(digits):
    model, (x_train, y_train, x_test, y_test) = digits
    qat = qgraph.quantize_model(
        model,
        layers=["stem", "dw", "dw_project", "side", "concat", "pool", "head_conv"],
        representative_data=x_train[:64],
    )
    fit_qat(qat, x_train, y_train, epochs=1)
    result = qgraph.compile(qat)
    floats = [m for r in result.report.passes if r.name == "insert_float_boundaries" for m in r.messages]
    assert floats and "gap" in floats[0] and "probs" in floats[0]
    acc, probs, _ = accuracy_in_litert(result.tflite, x_test, y_test)
    assert np.mean(probs.argmax(1) == qat.predict(x_test, verbose=0).argmax(1)) >= 0.99
    by_type = qgraph.compile(
        qgraph.quantize_model(model, layers=[type(model.get_layer("dw"))], representative_data=x_train[:64])
    ).report.ops_by_type
    assert by_type["QUANTIZE"] >= 1 and by_type["DEQUANTIZE"] >= 1


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
def test_nested_and_sequential_models(zoo, framework):
    model = zoo.get("concat_nested", framework)
    x = zoo.sample(model, 64, seed=3)
    y = np.random.default_rng(0).integers(0, 10, 64)
    qat = fit_qat(qgraph.quantize_model(model, representative_data=x[:16]), x, y, epochs=1)
    got = run_tflite(qgraph.compile(qat).tflite, x[:16])
    want = qat.predict(x[:16], verbose=0)
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.9
    assert np.abs(got - want).max() < 0.05

    import keras

    seq = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    xs = np.random.default_rng(1).normal(size=(32, 6)).astype(np.float32)
    qseq = qgraph.quantize_model(seq, representative_data=xs)
    np.testing.assert_allclose(
        run_tflite(qgraph.compile(qseq).tflite, xs), qseq.predict(xs, verbose=0), atol=0.05
    )


def test_low_weight_bits_export_what_training_simulated(digits):
    model, (x_train, y_train, x_test, y_test) = digits
    qat = fit_qat(qgraph.quantize_model(model, weight_bits=4), x_train, y_train, epochs=2, lr=3e-4)
    acc, probs, _ = accuracy_in_litert(qgraph.compile(qat).tflite, x_test, y_test)
    assert np.mean(probs.argmax(1) == qat.predict(x_test, verbose=0).argmax(1)) >= 0.99


def test_errors(digits):
    model, (x_train, _, _, _) = digits
    with pytest.raises(qgraph.OptionError, match="weight_bits=9"):
        qgraph.quantize_model(model, weight_bits=9)
    with pytest.raises(qgraph.QGraphError, match="no learned range yet"):
        qgraph.compile(qgraph.quantize_model(model))
    sixteen = qgraph.quantize_model(model, activation_bits=16, representative_data=x_train[:16])
    with pytest.raises(qgraph.QGraphError, match="16-bit activations.*int16x8 is not implemented"):
        qgraph.compile(sixteen)


def test_trains_under_mirrored_strategy_with_consistent_ranges():
    script = textwrap.dedent("""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, tensorflow as tf, keras, qgraph
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from qgraph.demo import train_digits_cnn, accuracy_in_litert
        model, (x, y, xt, yt) = train_digits_cnn(epochs=6)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            qat = qgraph.quantize_model(model, representative_data=x[:64])
            qat.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
        qat.fit(x, y, epochs=2, batch_size=64, verbose=0)
        q = qat.get_layer("fq_concat_0")
        per_replica = [float(v.numpy()) for v in strategy.experimental_local_results(q.range_max.value)]
        assert strategy.num_replicas_in_sync == 2 and len(per_replica) == 2, per_replica
        assert per_replica[0] == per_replica[1], per_replica
        acc = accuracy_in_litert(qgraph.compile(qat).tflite, xt, yt)[0]
        print("replicas", per_replica, "accuracy", acc)
        assert acc > 0.9, acc
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replicas" in done.stdout


def test_left_out_layer_stays_float_in_training_and_in_the_file():
    import keras

    from qgraph.quant.numerics import sqnr_db

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 3)).astype(np.float32)
    inp = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    b = keras.layers.Conv2D(4, 3, padding="same", name="c2")(a)
    model = keras.Model(inp, keras.layers.Conv2D(4, 1, name="c3")(b))
    qat = qgraph.quantize_model(model, layers=["c1", "c3"], representative_data=x)
    assert qat.get_layer("c2").weight_fq == {} and qat.get_layer("c2").float_op
    result = qgraph.compile(qat)
    c2 = next(op for op in result.graph.ops() if op.name.startswith("c2") and op.type == "CONV_2D")
    assert [t.dtype for t in result.graph.inputs_of(c2)] == ["float32", "float32", "float32"]
    assert sqnr_db(qat.predict(x, verbose=0), run_tflite(result.tflite, x)) > 45.0


def test_dense_weights_simulated_per_tensor_as_exported(digits):
    model, (x_train, _, _, _) = digits
    qat = qgraph.quantize_model(model, representative_data=x_train[:32])
    dense = next(layer for layer in qat.layers if getattr(layer, "op_type", "") == "FULLY_CONNECTED")
    assert dense.weight_fq[1]["axis"] is None  # per tensor, as the int8 spec's default export
    conv = next(layer for layer in qat.layers if getattr(layer, "op_type", "") == "CONV_2D")
    assert conv.weight_fq[1]["axis"] == 0
    edgetpu = qgraph.quantize_model(model, representative_data=x_train[:32], target="edgetpu")
    assert all(
        layer.weight_fq[1]["axis"] is None for layer in edgetpu.layers if 1 in getattr(layer, "weight_fq", {})
    )
