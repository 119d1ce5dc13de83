"""Sparsity and distinct values per weight tensor (`qgraph.compress.stats`): the arithmetic on
hand-made arrays, which constants count as weights on a hand-built IR, and the numbers read
back from a Keras model and from qgraph's and TFLiteConverter's files, float and int8."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.compress.stats import WeightStats, tensor_stats, weight_stats
from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.testing import converter_float, converter_int8, max_rel_err, run_litert

# ---- tensor_stats ---------------------------------------------------------------------------


def test_tensor_stats_counts_zeros_and_distinct_values_per_channel_on_axis_0():
    w = np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 3.0, 3.0, 3.0], [5.0, 5.0, 5.0, 5.0]], np.float32)
    assert tensor_stats(w, channel_axis=0) == (3 / 12, 5, 3)
    assert tensor_stats(w, channel_axis=1) == (3 / 12, 5, 3)  # columns: {0,5} {0,3,5} {1,3,5} {2,3,5}
    assert tensor_stats(w, channel_axis=None) == (3 / 12, 5, 5)
    assert tensor_stats(w, channel_axis=-2) == tensor_stats(w, channel_axis=0)


def test_tensor_stats_per_channel_on_axis_3_as_a_depthwise_kernel():
    w = np.zeros((1, 3, 3, 4), np.float32)
    w[..., 1] = np.arange(9).reshape(3, 3) % 2  # {0, 1}
    w[..., 2] = np.arange(9).reshape(3, 3) % 5  # {0..4}
    w[..., 3] = -1.5  # {-1.5}
    zeros = 9 + 5 + 2  # channel 0: all; 1: at 0, 2, 4, 6, 8; 2: at 0 and 5
    assert tensor_stats(w, channel_axis=3) == (zeros / 36, 6, 5)
    assert tensor_stats(np.ascontiguousarray(np.moveaxis(w, 3, 0)), 0) == (zeros / 36, 6, 5)


def test_tensor_stats_of_a_quantized_tensor_counts_its_zero_point_as_zero():
    q = np.array([[-5, -5, 3, 7], [-5, 2, 2, 2]], np.int8)
    assert tensor_stats(q, 0, zero=-5) == (3 / 8, 4, 3)
    assert tensor_stats(q, 0, zero=0) == (0.0, 4, 3)
    # Per-axis zero points: one per channel, given 1-D or already broadcastable.
    q2 = np.array([[4, 4, 1, 0], [0, 0, 0, 9]], np.int8)
    assert tensor_stats(q2, 0, zero=np.array([4, 0])) == (5 / 8, 4, 3)
    assert tensor_stats(q2, 0, zero=np.array([[4], [0]])) == (5 / 8, 4, 3)
    u = np.array([[128, 128, 0, 255]], np.uint8).T  # (4, 1): channel axis 1 has one channel
    assert tensor_stats(u, 1, zero=128) == (0.5, 3, 3)


def test_tensor_stats_edge_cases():
    assert tensor_stats(np.zeros((0, 4), np.float32), 0) == (0.0, 0, 0)
    assert tensor_stats(np.float32(0.0), None) == (1.0, 1, 1)
    nan = np.float32("nan")
    # -0.0 is 0.0; NaNs are one value, as np.unique counts them.
    assert tensor_stats(np.array([[nan, 1, nan], [-0.0, 0.0, 1]], np.float32), 0) == (2 / 6, 3, 2)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "uint8", "int32"])
def test_tensor_stats_matches_np_unique_per_channel(dtype):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 20, size=(6, 5, 7)).astype(dtype) * np.array(1, dtype)
    for axis in (0, 1, 2):
        slices = [np.take(a, i, axis=axis) for i in range(a.shape[axis])]
        expected = ((a == 0).mean(), np.unique(a).size, max(np.unique(s).size for s in slices))
        assert tensor_stats(a, axis) == pytest.approx(expected)


def test_tensor_stats_of_a_large_float16_tensor_is_exact():
    # numpy 2.4's float16 sort misorders 3.5M elements on AVX-512; the counts must not follow it.
    h = np.random.default_rng(0).normal(size=(1024, 3456)).astype(np.float16)
    expected = np.unique(h.astype(np.float32)).size
    assert tensor_stats(h, None)[1] == tensor_stats(h, 0)[1] == expected
    assert tensor_stats(h, 0)[2] == max(np.unique(row.astype(np.float32)).size for row in h)


# ---- weight_stats on a hand-built IR --------------------------------------------------------


def _ir_with_every_kind_of_constant() -> Graph:
    g = Graph("consts")
    x = g.add_tensor(Tensor("x", (1, 4, 4, 3)))
    kernel = np.array([[0, 2, 3], [0, 1, 0], [1, 1, 0], [0, 0, 1]], np.float32).reshape(4, 1, 1, 3)
    bias = g.const("conv/bias", np.ones(4, np.float32))
    y = g.add_tensor(Tensor("y", (1, 4, 4, 4)))
    g.add_op(
        Op("conv", "CONV_2D", meta={"layer": "conv_layer"}), [x, g.const("conv/kernel", kernel), bias], [y]
    )
    # A broadcast vector is not a weight, whatever its rank.
    y2 = g.add_tensor(Tensor("y2", (1, 4, 4, 4)))
    g.add_op(Op("add", "ADD"), [y, g.const("offset", np.ones((1, 1, 1, 4), np.float32))], [y2])
    flat = g.add_tensor(Tensor("flat", (1, 64)))
    g.add_op(Op("reshape", "RESHAPE"), [y2, g.const("shape", np.array([1, 64], np.int32))], [flat])
    # A float16 weight behind a DEQUANTIZE, with its float16 bias.
    fc_w = g.add_tensor(Tensor("fc/kernel", (5, 64)))
    g.add_op(Op("deq", "DEQUANTIZE"), [g.const("fc/kernel/fp16", np.ones((5, 64)), "float16")], [fc_w])
    fc_b = g.add_tensor(Tensor("fc/bias", (5,)))
    g.add_op(Op("deq_b", "DEQUANTIZE"), [g.const("fc/bias/fp16", np.ones(5), "float16")], [fc_b])
    z = g.add_tensor(Tensor("z", (1, 5)))
    g.add_op(Op("fc", "FULLY_CONNECTED"), [flat, fc_w, fc_b], [z])
    # An int8 matrix with a nonzero zero point, and the same matrix read again (reported once).
    mat = np.array([[-3] * 3, [-3, 1, 2]] * 2 + [[0, 0, 0]], np.int8)
    q = g.add_tensor(Tensor("mat", (5, 3), "int8", mat, QuantParams(np.array([0.1]), np.array([-3]))))
    m1, m2 = g.add_tensor(Tensor("m1", (1, 3))), g.add_tensor(Tensor("m2", (1, 3)))
    g.add_op(Op("bmm", "BATCH_MATMUL"), [z, q], [m1])
    g.add_op(Op("bmm2", "BATCH_MATMUL"), [z, q], [m2])
    # GATHER's table at its compress port.
    ids = g.add_tensor(Tensor("ids", (1, 2), "int32"))
    emb = g.add_tensor(Tensor("emb", (1, 2, 4)))
    g.add_op(Op("gather", "GATHER"), [g.const("table", np.eye(10, 4, dtype=np.float32)), ids], [emb])
    g.inputs, g.outputs = ["x", "ids"], ["m1", "m2", "emb"]
    return g


def test_weight_stats_finds_weights_not_biases_shapes_or_broadcast_vectors():
    stats = weight_stats(_ir_with_every_kind_of_constant())
    assert stats == [
        WeightStats("conv/kernel", "conv", "CONV_2D", "conv_layer", (4, 1, 1, 3), "float32", 0.5, 4, 3, 0),
        WeightStats("fc/kernel/fp16", "fc", "FULLY_CONNECTED", "fc", (5, 64), "float16", 0.0, 1, 1, 0),
        # The zero point -3 is its zero; BATCH_MATMUL and GATHER name no channel axis.
        WeightStats("mat", "bmm", "BATCH_MATMUL", "bmm", (5, 3), "int8", 8 / 15, 4, 4, None),
        WeightStats("table", "gather", "GATHER", "gather", (10, 4), "float32", 0.9, 2, 2, None),
    ]
    assert [(s.size, s.zeros) for s in stats] == [(12, 6), (320, 0), (15, 8), (40, 36)]


def test_weight_stats_uses_per_axis_zero_points():
    g = Graph("q")
    x, y = g.add_tensor(Tensor("x", (1, 2))), g.add_tensor(Tensor("y", (1, 3)))
    w = g.add_tensor(Tensor("w", (3, 2), "int8", np.array([[5, 5], [5, 0], [-1, 7]], np.int8)))
    w.quant = QuantParams(np.ones(3), np.array([5, 0, 7]), axis=0)
    g.add_op(Op("fc", "FULLY_CONNECTED"), [x, w], [y])
    (s,) = weight_stats(g)
    assert (s.sparsity, s.distinct, s.distinct_per_channel, s.channel_axis) == (4 / 6, 4, 2, 0)


# ---- a Keras model with a pruned conv and a clustered dense, through every writer ---------------

#: the Dense's 4 values per output channel, scaled per channel (well apart in int8 too).
CLUSTER_LEVELS = np.array([-1.0, -0.4, 0.3, 1.0], np.float32)


def pruned_clustered_model():
    """Conv2D (8 filters, 3x3x3) whose kernel is exactly 50% zeros, the rest of magnitude 0.5..1
    (no int8 rounding to zero); Dense (128 -> 6) with 4 distinct values per output channel."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.Flatten(name="flatten")(x)
    model = keras.Model(inp, keras.layers.Dense(6, name="dense")(x), name="pruned_clustered")
    kernel = rng.uniform(0.5, 1.0, 216) * rng.choice([-1.0, 1.0], 216)
    kernel[rng.permutation(216)[:108]] = 0.0
    model.get_layer("conv").set_weights(
        [kernel.reshape(3, 3, 3, 8).astype(np.float32), rng.normal(0, 0.1, 8).astype(np.float32)]
    )
    scale = 0.1 * (1.0 + np.arange(6) / 5.0)
    dense = CLUSTER_LEVELS[rng.integers(0, 4, (128, 6))] * scale
    dense[:4] = CLUSTER_LEVELS[:, None] * scale  # every channel takes all 4 values
    model.get_layer("dense").set_weights([dense.astype(np.float32), rng.normal(0, 0.1, 6).astype(np.float32)])
    return model


def samples(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 8, 8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return pruned_clustered_model()


BUILDS = ("qgraph_float", "qgraph_int8", "converter_float", "converter_int8")


@pytest.fixture(scope="module")
def written(model, tmp_path_factory):
    """Each build's file on disk."""
    calibration = samples(256, seed=1)
    files = {
        "qgraph_float": qgraph.compile(model, quantize="float").tflite,
        "qgraph_int8": qgraph.compile(model, quantize="int8", representative_data=calibration).tflite,
        "converter_float": converter_float(model),
        "converter_int8": converter_int8(model, calibration),
    }
    folder = tmp_path_factory.mktemp("stats")
    for name, data in files.items():
        (folder / f"{name}.tflite").write_bytes(data)
    return {name: folder / f"{name}.tflite" for name in files}


def _conv_and_dense(stats: list[WeightStats]) -> tuple[WeightStats, WeightStats]:
    assert [s.op_type for s in stats] == ["CONV_2D", "FULLY_CONNECTED"], stats
    return stats[0], stats[1]


def test_weight_stats_of_the_keras_model(model):
    conv, dense = _conv_and_dense(weight_stats(qgraph.load(model)))
    assert (conv.layer, conv.shape, conv.dtype, conv.channel_axis) == ("conv", (8, 3, 3, 3), "float32", 0)
    assert (conv.sparsity, conv.zeros, conv.distinct) == (0.5, 108, 109)
    assert (dense.layer, dense.shape, dense.channel_axis) == ("dense", (6, 128), 0)
    assert (dense.sparsity, dense.distinct, dense.distinct_per_channel) == (0.0, 24, 4)


@pytest.mark.parametrize("build", BUILDS)
def test_weight_stats_of_written_files_and_the_files_run_like_keras(model, written, build):
    path = written[build]
    held_out = samples(8, seed=2)
    err = max_rel_err(run_litert(path.read_bytes(), held_out), model.predict(held_out, verbose=0))
    assert err < (1e-5 if build.endswith("float") else 0.05), err

    conv, dense = _conv_and_dense(weight_stats(qgraph.load(path)))
    dtype = "int8" if build.endswith("int8") else "float32"
    assert (conv.shape, conv.dtype, conv.channel_axis) == ((8, 3, 3, 3), dtype, 0)
    assert (dense.shape, dense.dtype, dense.channel_axis) == ((6, 128), dtype, 0)
    # Pruned zeros stay exactly zero in int8 (and nothing else rounds to zero); clustered
    # values stay 4 per channel: int8 rounding is one function per channel (per tensor for
    # qgraph's FULLY_CONNECTED, per channel for the converter's).
    assert (conv.sparsity, conv.zeros) == (0.5, 108)
    assert (dense.sparsity, dense.distinct_per_channel) == (0.0, 4)
    if build == "converter_int8":  # per-channel scales map every channel to the same 4 integers
        assert dense.distinct == 4
    elif build == "qgraph_int8":  # one scale: 4 integers per channel, not the same ones
        assert 4 < dense.distinct <= 24
    else:
        assert dense.distinct == 24
    assert conv.distinct == 109 if dtype == "float32" else 1 < conv.distinct <= 109
