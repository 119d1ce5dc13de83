"""Attention, normalization and axis-moving layers, end to end: Keras model -> qgraph -> LiteRT,
float against Keras (round-off), int8 against Keras on held-out samples (no worse than
TFLiteConverter's SQNR, same calibration, minus 1 dB)."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.testing import converter_int8, max_rel_err, run_litert, run_signature, sqnr_db

FLOAT_TOL = 1e-5
INT8_MARGIN_DB = 1.0


def _keras():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def _realistic_norms(model, seed: int = 1):
    """Non-trivial gamma/beta (they are 1 and 0 when built), so the affine part is really tested."""
    r = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ in ("LayerNormalization", "GroupNormalization"):
            layer.set_weights(
                [
                    (r.uniform(0.5, 1.5, w.shape) if "gamma" in v.path else r.normal(0, 0.3, w.shape)).astype(
                        np.float32
                    )
                    for v, w in zip(layer.weights, layer.get_weights(), strict=True)
                ]
            )
    return model


def _masks(r, n: int, t: int, s: int) -> np.ndarray:
    m = (r.uniform(size=(n, t, s)) > 0.3).astype(np.float32)
    m[..., 0] = 1.0  # every query sees at least one key (a fully masked row is tested on its own)
    return m


@pytest.fixture(scope="module")
def encoder():
    """A transformer encoder block: self-attention + residual + LayerNorm, a GELU MLP + residual +
    LayerNorm, and a Dense head."""
    keras = _keras()
    L = keras.layers
    x_in = keras.Input((16, 32), name="tokens")
    attended = L.MultiHeadAttention(num_heads=4, key_dim=8)(x_in, x_in)
    x = L.LayerNormalization()(L.Add()([x_in, attended]))
    h = L.Dense(64, activation="gelu")(x)
    x = L.LayerNormalization()(L.Add()([x, L.Dense(32)(h)]))
    model = _realistic_norms(keras.Model(x_in, L.Dense(10)(L.Flatten()(x))))
    r = np.random.default_rng(0)
    calibration, held_out = (
        r.normal(size=(64, 16, 32)).astype(np.float32),
        r.normal(size=(16, 16, 32)).astype(np.float32),
    )
    return model, calibration, held_out, model.predict(held_out, verbose=0)


@pytest.fixture(scope="module")
def cross_attention():
    """Cross attention (queries 16 x 32, values 8 x 24, value_dim 6) with a 0/1 mask input."""
    keras = _keras()
    q, v, m = (
        keras.Input((16, 32), name="query"),
        keras.Input((8, 24), name="value"),
        keras.Input((16, 8), name="mask"),
    )
    out = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, value_dim=6)(q, v, attention_mask=m)
    model = keras.Model([q, v, m], out)
    r = np.random.default_rng(0)

    def samples(n):
        return [
            r.normal(size=(n, 16, 32)).astype(np.float32),
            r.normal(size=(n, 8, 24)).astype(np.float32),
            _masks(r, n, 16, 8),
        ]

    calibration, held_out = samples(64), samples(16)
    return model, calibration, held_out, model.predict(held_out, verbose=0)


def test_encoder_block_float_matches_keras(encoder):
    model, _, held_out, ref = encoder
    result = qgraph.compile(model, "cpu")
    ops = result.report.ops_by_type
    assert ops["BATCH_MATMUL"] == 2 and ops["SOFTMAX"] == 1 and ops["GELU"] == 1
    assert ops["SQUARED_DIFFERENCE"] == 2 and ops["RSQRT"] == 2
    # the 1/sqrt(key_dim) scale is folded into the query projection's weights
    assert not [op.name for op in result.graph.ops() if op.name.endswith("query_scaled")]
    assert max_rel_err(run_litert(result.tflite, held_out), ref) < FLOAT_TOL


def test_encoder_block_int8_is_no_worse_than_the_converter(encoder):
    model, calibration, held_out, ref = encoder
    result = qgraph.compile(model, "cpu", "int8", representative_data=calibration)
    ops = result.report.ops_by_type
    assert ops["QUANTIZE"] == 1 and ops["DEQUANTIZE"] == 1, "every op of the block runs in int8"
    ours = sqnr_db(run_litert(result.tflite, held_out), ref)
    theirs = sqnr_db(run_litert(converter_int8(model, calibration), held_out), ref)
    assert ours >= theirs - INT8_MARGIN_DB, f"qgraph {ours:.2f} dB vs TFLiteConverter {theirs:.2f} dB"


def test_cross_attention_with_mask_float_matches_keras_even_on_fully_masked_rows(cross_attention):
    model, _, held_out, ref = cross_attention
    tflite = qgraph.compile(model, "cpu").tflite
    assert max_rel_err(run_litert(tflite, *held_out), ref) < FLOAT_TOL
    blind = [held_out[0], held_out[1], held_out[2].copy()]
    blind[2][:, 3] = 0.0  # query 3 may look at nothing: Keras then averages every value uniformly
    assert max_rel_err(run_litert(tflite, *blind), model.predict(blind, verbose=0)) < FLOAT_TOL


def test_cross_attention_with_mask_int8_runs_the_masked_softmax_in_float(cross_attention):
    model, calibration, held_out, ref = cross_attention
    result = qgraph.compile(model, "cpu", "int8", representative_data=calibration)
    g = result.graph
    (softmax,) = [op for op in g.ops() if op.type == "SOFTMAX"]
    masked = g.producer(g.inputs_of(softmax)[0])
    assert masked.type == "ADD" and g.inputs_of(softmax)[0].dtype == "float32"
    assert {g.producer(t).type for t in g.inputs_of(masked)} == {"DEQUANTIZE"}
    assert [op.type for op in g.consumers(g.outputs_of(softmax)[0])] == ["QUANTIZE"]
    ours = sqnr_db(run_litert(result.tflite, *held_out), ref)
    theirs = sqnr_db(run_signature(converter_int8(model, calibration), model, *held_out), ref)
    # the converter's int8 masked scores share one scale with -1e9, which leaves no step for them
    assert ours >= theirs - INT8_MARGIN_DB and ours > 25.0, (
        f"qgraph {ours:.2f} dB vs TFLiteConverter {theirs:.2f} dB"
    )


def test_causal_gated_sliding_window_self_attention():
    keras = _keras()
    x_in = keras.Input((12, 16))
    layer = keras.layers.MultiHeadAttention(
        num_heads=2, key_dim=8, use_gate=True, sliding_window=3, output_shape=(4, 5)
    )
    model = keras.Model(x_in, layer(x_in, x_in, use_causal_mask=True))
    r = np.random.default_rng(0)
    calibration, held_out = (
        r.normal(size=(32, 12, 16)).astype(np.float32),
        r.normal(size=(8, 12, 16)).astype(np.float32),
    )
    ref = model.predict(held_out, verbose=0)
    assert max_rel_err(run_litert(qgraph.compile(model, "cpu").tflite, held_out), ref) < FLOAT_TOL
    result = qgraph.compile(model, "cpu", "int8", representative_data=calibration)
    assert sqnr_db(run_litert(result.tflite, held_out), ref) > 25.0


def test_normalization_softmax_and_axis_layers_float_and_int8():
    keras = _keras()
    L = keras.layers
    x_in = keras.Input((6, 8, 12))
    x = L.Dense(12)(x_in)
    mixed = L.Add()(
        [
            L.LayerNormalization(axis=[1, 2])(x),
            L.LayerNormalization(center=False)(x),
            L.LayerNormalization(axis=[1, 3], scale=False)(x),
            L.GroupNormalization(groups=4)(x),
            L.Permute((2, 1, 3))(L.Softmax(axis=2)(L.Permute((2, 1, 3))(x))),
            L.Softmax(axis=(1, 3))(x),
        ]
    )
    model = _realistic_norms(keras.Model(x_in, mixed))
    r = np.random.default_rng(0)
    calibration, held_out = (
        r.normal(size=(64, 6, 8, 12)).astype(np.float32),
        r.normal(size=(16, 6, 8, 12)).astype(np.float32),
    )
    ref = model.predict(held_out, verbose=0)
    assert max_rel_err(run_litert(qgraph.compile(model, "cpu").tflite, held_out), ref) < FLOAT_TOL
    ours = sqnr_db(
        run_litert(qgraph.compile(model, "cpu", "int8", representative_data=calibration).tflite, held_out),
        ref,
    )
    theirs = sqnr_db(run_litert(converter_int8(model, calibration), held_out), ref)
    assert ours >= theirs - INT8_MARGIN_DB, f"qgraph {ours:.2f} dB vs TFLiteConverter {theirs:.2f} dB"


def test_dot_repeat_vector_and_gelu_activation_float():
    keras = _keras()
    L = keras.layers
    a, b, c, u = keras.Input((6, 8)), keras.Input((5, 8)), keras.Input((6, 5)), keras.Input((8,))
    outputs = [
        L.Dot(axes=2)([a, b]),
        L.Dot(axes=1)([a, c]),
        L.Dot(axes=(2, 2), normalize=True)([a, b]),
        L.Dot(axes=1, normalize=True)([u, L.Dense(8, activation="gelu")(u)]),
        L.RepeatVector(3)(u),
        L.Conv2D(4, 3, activation="gelu")(L.Reshape((6, 8, 1))(a)),
    ]
    model = keras.Model([a, b, c, u], outputs)
    r = np.random.default_rng(0)
    samples = [r.normal(size=(8, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    ref = model.predict(samples, verbose=0)
    out = run_litert(qgraph.compile(model, "cpu").tflite, *samples)
    for got, want in zip(out, ref, strict=True):
        assert max_rel_err(got, want) < FLOAT_TOL


def test_unsupported_attention_options_are_refused_by_name():
    keras = _keras()
    q = keras.Input((4, 8))
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    with pytest.raises(qgraph.UnsupportedLayerError, match="return_attention_scores=True is not supported"):
        qgraph.load(keras.Model(q, mha(q, q, return_attention_scores=True)))
    with pytest.raises(qgraph.UnsupportedLayerError, match=r"axis=1 is not supported \(supported: -1"):
        qgraph.load(keras.Model(q, keras.layers.GroupNormalization(groups=2, axis=1)(q)))


def test_dot_and_repeat_vector_int8_is_no_worse_than_the_converter():
    keras = _keras()
    L = keras.layers
    a, b, u = keras.Input((6, 8), name="a"), keras.Input((5, 8), name="b"), keras.Input((8,), name="u")
    out = L.Add()(
        [L.Dot(axes=2)([a, b]), L.Dot(axes=2, normalize=True)([a, b]), L.RepeatVector(6)(L.Dense(5)(u))]
    )
    model = keras.Model([a, b, u], out)
    r = np.random.default_rng(0)

    def samples(n):
        return [r.normal(size=(n, *t.shape[1:])).astype(np.float32) for t in model.inputs]

    calibration, held_out = samples(64), samples(16)
    ref = model.predict(held_out, verbose=0)
    result = qgraph.compile(model, "cpu", "int8", representative_data=calibration)
    assert result.report.ops_by_type["QUANTIZE"] == 3 and result.report.ops_by_type["DEQUANTIZE"] == 1
    ours = sqnr_db(run_litert(result.tflite, *held_out), ref)
    theirs = sqnr_db(run_signature(converter_int8(model, calibration), model, *held_out), ref)
    assert ours >= theirs - INT8_MARGIN_DB, f"qgraph {ours:.2f} dB vs TFLiteConverter {theirs:.2f} dB"
