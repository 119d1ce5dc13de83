"""1-D layers, cropping, Conv2DTranspose and Normalization: float and full-int8 files run in
LiteRT against Keras; int8 SQNR no worse than TFLiteConverter's on the same calibration data."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.testing import converter_int8, max_rel_err, realistic_statistics, run_litert, sqnr_db

MEAN, STD = np.array([0.5, -1.0, 2.0, 0.0], np.float32), np.array([1.0, 2.0, 0.5, 3.0], np.float32)


def _models():
    """name -> model: one small model per layer family, several layers each."""
    import keras

    L = keras.layers
    seq, img = keras.Input((24, 4)), keras.Input((6, 6, 4))

    def model(name, inp, *layers):  # a list of layers: parallel branches, concatenated
        x = inp
        for layer in layers:
            x = layer(x) if not isinstance(layer, list) else L.Concatenate()([branch(x) for branch in layer])
        return keras.Model(inp, x, name=name)

    return {
        "conv1d": model(
            "conv1d",
            seq,
            L.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu"),
            L.Conv1D(6, 4, strides=2, padding="same"),
            L.Conv1D(5, 3, strides=2, padding="valid", activation="tanh"),
        ),
        "depthwise_separable_conv1d": model(
            "depthwise_separable_conv1d",
            seq,
            L.DepthwiseConv1D(3, depth_multiplier=2, padding="same", activation="relu6"),
            L.SeparableConv1D(6, 3, strides=2, padding="valid", activation="swish"),
        ),
        "pooling1d": model(
            "pooling1d",
            seq,
            L.Conv1D(6, 3, padding="same"),
            L.MaxPooling1D(2),
            L.UpSampling1D(3),
            L.AveragePooling1D(3, strides=2, padding="same"),
            [L.GlobalAveragePooling1D(), L.GlobalMaxPooling1D()],
        ),
        "normalization_pad_crop1d": model(
            "normalization_pad_crop1d",
            seq,
            L.Normalization(mean=MEAN, variance=STD**2),
            L.ZeroPadding1D((2, 1)),
            L.Conv1D(6, 3, activation="relu"),
            L.Cropping1D((1, 3)),
        ),
        # A keyword-spotting-style audio model: 1-D convolutions over time, BatchNorm, pooling.
        "audio_kws": model(
            "audio_kws",
            seq,
            L.Normalization(mean=MEAN, variance=STD**2),
            L.Conv1D(16, 5, strides=2, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPooling1D(2),
            L.Conv1D(24, 3, padding="same", activation="relu"),
            L.GlobalAveragePooling1D(),
            L.Dense(10),
        ),
        "conv2d_transpose": model(
            "conv2d_transpose",
            img,
            L.Normalization(mean=MEAN, variance=STD**2, invert=True),
            L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
            L.Cropping2D(((1, 2), (0, 1))),
            L.Conv2DTranspose(5, 2, strides=(2, 3), padding="valid", use_bias=False),
        ),
    }


@pytest.fixture(scope="module")
def cases():
    """name -> (model, calibration, held-out samples, Keras output, converter's int8 file)."""
    rng = np.random.default_rng(0)
    out = {}
    for name, m in _models().items():
        shape = tuple(m.inputs[0].shape[1:])
        # The Normalization models see data with the statistics they normalize away.
        calib = (MEAN + STD * rng.normal(size=(48, *shape))).astype(np.float32)
        test = (MEAN + STD * rng.normal(size=(16, *shape))).astype(np.float32)
        realistic_statistics(m, calib)  # BatchNorm statistics from data (audio_kws)
        out[name] = (m, calib, test, m.predict(test, verbose=0), converter_int8(m, calib))
    return out


NAMES = [
    "conv1d",
    "depthwise_separable_conv1d",
    "pooling1d",
    "normalization_pad_crop1d",
    "audio_kws",
    "conv2d_transpose",
]


@pytest.mark.parametrize("name", NAMES)
def test_float_file_matches_keras(cases, name):
    model, _, test, ref, _ = cases[name]
    assert max_rel_err(run_litert(qgraph.compile(model, "cpu").tflite, test), ref) < 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_int8_file_is_as_accurate_as_the_converter_s(cases, name):
    model, calib, test, ref, theirs = cases[name]
    ours = qgraph.compile(model, "cpu", "int8", representative_data=calib).tflite
    mine, conv = sqnr_db(run_litert(ours, test), ref), sqnr_db(run_litert(theirs, test), ref)
    print(f"{name}: int8 SQNR {mine:.2f} dB, TFLiteConverter {conv:.2f} dB")
    assert mine >= conv - 1.0, f"{name}: SQNR {mine:.2f} dB vs the converter's {conv:.2f} dB"


def test_option_variants_match_keras_in_float():
    """Normalization over no axis / two axes (adapted), keepdims, transposed convs with kernel < stride
    and an even kernel: one two-input, six-output model."""
    import keras

    L, rng = keras.layers, np.random.default_rng(2)
    seq, img = keras.Input((12, 4)), keras.Input((5, 5, 3))
    per_step = L.Normalization(axis=(1, 2))
    per_step.adapt((2.0 + 3.0 * rng.normal(size=(64, 12, 4))).astype(np.float32))
    outs = [
        L.Normalization(axis=None, mean=1.0, variance=4.0)(seq),
        per_step(seq),
        L.GlobalMaxPooling1D(keepdims=True)(seq),
        L.Conv2DTranspose(4, 2, strides=3, padding="valid")(img),
        L.Conv2DTranspose(4, 4, strides=(2, 1), padding="same", use_bias=False, activation="sigmoid")(img),
        L.Cropping2D(2)(img),
    ]
    m = keras.Model([seq, img], outs)
    xs = [
        rng.normal(2.0, 3.0, size=(6, 12, 4)).astype(np.float32),
        rng.normal(size=(6, 5, 5, 3)).astype(np.float32),
    ]
    got = run_litert(qgraph.compile(m, "cpu").tflite, *xs)
    for i, (a, ref) in enumerate(zip(got, m.predict(xs, verbose=0), strict=True)):
        assert max_rel_err(a, ref) < 1e-5, m.outputs[i]


def test_conv1d_lowers_through_rank_4_as_the_converter_does():
    import keras

    m = keras.Sequential(
        [keras.Input((10, 3)), keras.layers.Conv1D(4, 3, padding="causal", activation="relu")]
    )
    assert [op.type for op in qgraph.load(m).ops()] == ["PAD", "RESHAPE", "CONV_2D", "RELU", "RESHAPE"]
    result = qgraph.compile(m, "cpu")
    assert [op.type for op in result.graph.ops()] == ["PAD", "RESHAPE", "CONV_2D", "RESHAPE"]
    conv = next(op for op in result.graph.ops() if op.type == "CONV_2D")
    assert conv.attrs["fused"] == "RELU" and result.graph.inputs_of(conv)[1].shape == (4, 1, 3, 3)


def test_transpose_conv_versions_follow_bias_and_fused_activation(cases):
    model, calib, *_ = cases["conv2d_transpose"]
    # Always a bias input (version 3); the first one carries a fused RELU (version 4).
    assert qgraph.compile(model, "cpu").graph.meta["op_versions"]["TRANSPOSE_CONV"] == 4
    int8 = qgraph.compile(model, "cpu", "int8", representative_data=calib).graph
    assert int8.meta["op_versions"]["TRANSPOSE_CONV"] == 4 and int8.meta["op_versions"]["SLICE"] == 2
    weights = [int8.inputs_of(op)[1] for op in int8.ops() if op.type == "TRANSPOSE_CONV"]
    assert all(w.dtype == "int8" and w.quant.axis == 0 for w in weights)


def test_the_ir_emitted_back_to_keras_computes_the_same(cases):
    """The OpDefs' Keras kernels (SLICE, TRANSPOSE_CONV, ...) reproduce the layers exactly."""
    for name, (model, _, test, ref, _) in cases.items():
        emitted = qgraph.to_keras(qgraph.load(model)).predict(test, verbose=0)
        assert max_rel_err(emitted, ref) < 1e-5, name


def test_tf_keras_layers_lower_the_same_way():
    import tf_keras

    L = tf_keras.layers
    m = tf_keras.Sequential(
        [
            tf_keras.Input((16, 4)),
            L.Normalization(mean=MEAN, variance=STD**2),
            L.Conv1D(6, 3, padding="causal", activation="relu"),
            L.DepthwiseConv1D(3, padding="same"),
            L.MaxPooling1D(2),
            L.Cropping1D(1),
            L.GlobalAveragePooling1D(),
        ]
    )
    x = (MEAN + STD * np.random.default_rng(1).normal(size=(8, 16, 4))).astype(np.float32)
    assert max_rel_err(run_litert(qgraph.compile(m, "cpu").tflite, x), m.predict(x, verbose=0)) < 1e-5


@pytest.mark.parametrize(
    "make, shape, option",
    [
        (lambda L: L.Conv1D(4, 3, groups=2), (8, 4), "groups=2"),
        (lambda L: L.Conv2DTranspose(4, 3, dilation_rate=2), (8, 8, 4), "dilation_rate=(2, 2)"),
        (lambda L: L.Conv2DTranspose(4, 3, strides=2, output_padding=1), (8, 8, 4), "output_padding=(1, 1)"),
        (lambda L: L.MaxPooling1D(2, data_format="channels_first"), (8, 4), "data_format='channels_first'"),
    ],
    ids=["conv1d-groups", "conv2d_transpose-dilation", "conv2d_transpose-output_padding", "pool1d-nchw"],
)
def test_unsupported_options_are_refused_by_layer_and_option(make, shape, option):
    import keras

    layer = make(keras.layers)
    m = keras.Sequential([keras.Input(shape), layer])
    with pytest.raises(qgraph.UnsupportedLayerError) as err:
        qgraph.load(m)
    message = str(err.value)
    assert layer.name in message and option in message and "not supported" in message, message
