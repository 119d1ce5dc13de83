"""verify on the model shapes that break a naive mapping: the converter's files of multi-input
models (inputs ordered by name) and multi-output models (outputs in any order), Sequential
models (no keras.Model cut), nested sub-models, and tf-keras models."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.testing import converter_float, converter_int8


def dense_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    return model


@pytest.fixture(scope="module")
def multi_input():
    import keras

    b, a = keras.Input((8,), name="b_x"), keras.Input((6,), name="a_y")  # the converter sorts them: a_y, b_x
    joined = keras.layers.Concatenate(name="cat")(
        [keras.layers.Dense(8, name="db")(b), keras.layers.Dense(8, name="da")(a)]
    )
    model = dense_weights(keras.Model([b, a], keras.layers.Dense(3, name="out")(joined), name="mi"))
    rng = np.random.default_rng(1)
    return model, [rng.normal(size=(40, 8)).astype("float32"), rng.normal(size=(40, 6)).astype("float32")]


@pytest.fixture(scope="module")
def multi_output():
    import keras

    x = keras.Input((8,), name="x")
    trunk = keras.layers.Dense(16, activation="relu", name="trunk")(x)
    zz = keras.layers.Dense(4, name="zz")(trunk)
    big = keras.layers.Dense(4, name="big")(keras.layers.Dense(8, name="pre")(trunk))
    model = dense_weights(keras.Model(x, [zz, big], name="mo"))
    return model, np.random.default_rng(2).normal(size=(40, 8)).astype("float32")


def test_the_converters_multi_input_file_is_fed_by_input_name(multi_input):
    model, x = multi_input
    for tflite in (converter_float(model), qgraph.compile(model, quantize="float").tflite):
        v = qgraph.verify(model, tflite, x)
        assert v.outputs[0].sqnr_db > 100 and {"da", "db", "cat", "out"} <= {e.layer for e in v.layers}
    v = qgraph.verify(model, converter_int8(model, x), x)
    assert 20 < v.outputs[0].sqnr_db < 60


def test_the_converters_multi_output_file_is_paired_by_output(multi_output):
    model, x = multi_output
    for tflite in (converter_float(model), qgraph.compile(model, quantize="float").tflite):
        v = qgraph.verify(model, tflite, x)
        assert [o.layer for o in v.outputs] == ["zz", "big"]
        assert all(o.sqnr_db > 100 for o in v.outputs), str(v)


def test_a_sequential_models_layers_are_measured_alone():
    import keras

    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="c1"), keras.layers.Flatten(name="fl"),
         keras.layers.Dense(5, activation="softmax", name="out")], name="seq",
    )  # fmt: skip
    dense_weights(model)
    x = np.random.default_rng(3).uniform(0, 1, (30, 8, 8, 1)).astype("float32")
    v = qgraph.verify(model, qgraph.compile(model, quantize="int8", representative_data=x).tflite, x)
    by_layer = {e.layer: e for e in v.layers}
    assert by_layer["out"].own_measured and by_layer["c1"].own_measured
    assert 20 < by_layer["out"].own_db < 80  # the int8 dense adds error of its own


def test_a_nested_sub_model_is_listed_not_a_traceback():
    import keras

    inner_in = keras.Input((16,))
    inner = keras.Model(
        inner_in, keras.layers.Dense(16, activation="relu", name="in_d")(inner_in), name="block"
    )
    x = keras.Input((4,), name="x")
    out = keras.layers.Dense(3, name="cls")(inner(keras.layers.Dense(16, name="pre")(x)))
    model = dense_weights(keras.Model(x, out, name="nested"))
    data = np.random.default_rng(4).normal(size=(20, 4)).astype("float32")
    v = qgraph.verify(model, qgraph.compile(model, quantize="float").tflite, data)
    assert "block" in v.unmatched and v.outputs[0].sqnr_db > 100


def test_tf_keras_layer_names_are_not_confused_by_keras3_suffixes():
    import tf_keras

    model = tf_keras.Sequential(
        [
            tf_keras.Input((6,)),
            tf_keras.layers.Dense(8, activation="relu"),
            tf_keras.layers.Dense(8, activation="relu"),
            tf_keras.layers.Dense(3),
        ]
    )
    # Auto names dense, dense_1, dense_2, which the converter scopes as such. (Without the second
    # ReLU the converter moves dense_1's bias into dense_2's, and no tensor holds dense_1's output.)
    dense_weights(model)
    x = np.random.default_rng(5).normal(size=(20, 6)).astype("float32")
    v = qgraph.verify(model, converter_float(model), x)
    assert all(e.sqnr_db > 100 for e in v.layers) and len(v.layers) == 3, str(v)
