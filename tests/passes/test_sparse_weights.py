"""sparse_weights (`compile(..., sparse=True)`): which weights are written sparse and how, checked
in LiteRT against the dense file and Keras, against TFLiteConverter's EXPERIMENTAL_SPARSITY file,
and read back by qgraph's .tflite reader."""

from __future__ import annotations

import contextlib
import io
import math
import re

import numpy as np
import pytest

import qgraph
from qgraph.demo import run_tflite
from qgraph.emit.schema import S
from qgraph.emit.tflite import serialize
from qgraph.emit.tflite_sparse import encode, sparse_block
from tests.conftest import rel_err

OP_NAMES = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}


def block_zeros(rng, out_features: int, in_features: int, block: tuple[int, int], zero_share: float):
    """Dense-layer kernel (Keras layout: in, out) with He-normal values and exactly `zero_share`
    of its `block`s (TFLite layout: out, in) set to zero."""
    w = rng.normal(0.0, math.sqrt(2.0 / in_features), (out_features, in_features))
    grid = (out_features // block[0], in_features // block[1])
    n = grid[0] * grid[1]
    keep = (rng.permutation(n) >= round(zero_share * n)).reshape(grid)
    mask = np.repeat(np.repeat(keep, block[0], axis=0), block[1], axis=1)
    return (w * mask).T.astype(np.float32)


def mlp(block: tuple[int, int], zero_share: float, seed: int = 0, hidden_block=None):
    """The anchor MLP: 256 -> Dense 512 relu -> Dense 64, weights set with a seeded RNG."""
    import keras

    rng = np.random.default_rng(seed)
    inp = keras.Input((256,), name="features")
    x = keras.layers.Dense(512, activation="relu", name="hidden")(inp)
    model = keras.Model(inp, keras.layers.Dense(64, name="logits")(x), name="mlp")
    for layer, b in ((model.get_layer("hidden"), hidden_block or block), (model.get_layer("logits"), block)):
        kernel, bias = layer.get_weights()
        weights = block_zeros(rng, kernel.shape[1], kernel.shape[0], b, zero_share)
        layer.set_weights([weights, rng.normal(0.0, 0.1, bias.shape).astype(np.float32)])
    return model


@pytest.fixture(scope="session")
def anchor():
    """The anchor MLP (75% of its 1x16 blocks zero), calibration and held-out data, and
    TFLiteConverter's sparse int8 file for the same model and calibration data."""
    import tensorflow as tf

    model = mlp((1, 16), 0.75)
    data = np.random.default_rng(1).normal(size=(164, 256)).astype(np.float32)
    calibration, held_out = data[:100], data[100:]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        theirs = converter.convert()
    dense = qgraph.compile(model, quantize="int8", representative_data=calibration)
    sparse = qgraph.compile(model, quantize="int8", representative_data=calibration, sparse=True)
    return model, calibration, held_out, theirs, dense, sparse


def messages(result) -> list[str]:
    return next(r for r in result.report.passes if r.name == "sparse_weights").messages


def sparse_tensors(data: bytes) -> dict[str, tuple]:
    """{op type reading it: [(dtype, block map, block sizes)]} of every sparse tensor in a file."""
    m = S.ModelT.InitFromPackedBuf(data, 0)
    codes = [(OP_NAMES[max(c.builtinCode, c.deprecatedBuiltinCode)], c.version) for c in m.operatorCodes]
    sub = m.subgraphs[0]
    found = []
    for op in sub.operators:
        for i in op.inputs:
            t = sub.tensors[i] if i >= 0 else None
            if t is not None and t.sparsity is not None:
                blocks = [int(d.denseSize) for d in t.sparsity.dimMetadata[len(t.shape) :]]
                found.append((codes[op.opcodeIndex], t.type, list(t.sparsity.blockMap), blocks))
    return found


def run_builtin(data: bytes, x: np.ndarray) -> np.ndarray:
    """LiteRT's builtin kernels only (no XNNPACK), one sample at a time."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for k in range(len(x)):
        interp.set_tensor(inp["index"], x[k : k + 1].astype(inp["dtype"]))
        interp.invoke()
        results.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(results)


def test_anchor_mlp_int8_is_no_larger_than_the_converters_and_matches_the_dense_file(anchor):
    model, _, held_out, theirs, dense, sparse = anchor
    int8 = S.TensorType.INT8
    assert sparse_tensors(sparse.tflite) == [(("FULLY_CONNECTED", 8), int8, [1], [16])] * 2
    assert sparse_tensors(theirs) == [(("FULLY_CONNECTED", 8), int8, [1], [16])] * 2
    assert len(sparse.tflite) <= len(theirs), (len(sparse.tflite), len(theirs))
    assert len(sparse.tflite) < 0.35 * len(dense.tflite), (len(sparse.tflite), len(dense.tflite))
    assert messages(sparse)[-1].startswith("2 weights written sparse")

    ours, ref = run_tflite(sparse.tflite, held_out), model.predict(held_out, verbose=0)
    baseline = run_tflite(dense.tflite, held_out)
    # LiteRT's sparse int8 kernel rescales the same int32 sums with gemmlowp's two roundings,
    # its dense kernels with one (test below): a sum within a hair of .5 steps rounds the other way.
    step = float(dense.graph.inputs_of(dense.graph.ops()[-1])[0].quant.scale[0])  # DEQUANTIZE's input
    off = np.abs(ours - baseline)
    assert off.max() <= step * 1.001 and np.mean(off > 0) < 0.03, (off.max() / step, np.mean(off > 0))
    assert rel_err(ours, ref) <= 1.05 * rel_err(baseline, ref) < 0.05
    # The converter's file has per-channel weights, a little finer than qgraph's per-tensor default.
    assert rel_err(ours, ref) <= 1.25 * rel_err(run_tflite(theirs, held_out), ref)


def test_sparse_int8_kernel_computes_the_dense_sums_of_exactly_the_written_weights(anchor):
    """One layer with int8 I/O: every output of the sparse file is gemmlowp's rounding of the
    int32 sum over the IR's int8 weights, every output of the dense file the single rounding of
    the same sum; they differ only where those two roundings do."""
    import keras

    model, calibration, *_ = anchor
    inp = keras.Input((256,))
    one = keras.Model(inp, keras.layers.Dense(512, name="hidden")(inp))
    one.get_layer("hidden").set_weights(model.get_layer("hidden").get_weights())
    options = dict(quantize="int8", representative_data=calibration, io_dtype="int8")
    dense, sparse = qgraph.compile(one, **options), qgraph.compile(one, **options, sparse=True)
    fc = next(op for op in dense.graph.ops() if op.type == "FULLY_CONNECTED")
    x_t, w, b = dense.graph.inputs_of(fc)
    y_t = dense.graph.outputs_of(fc)[0]
    x = np.random.default_rng(2).integers(-128, 128, (64, 256)).astype(np.int8)
    sums = (x.astype(np.int64) - int(x_t.quant.zero_point[0])) @ w.data.astype(np.int64).T + b.data
    real = float(x_t.quant.scale[0]) * float(w.quant.scale[0]) / float(y_t.quant.scale[0])
    two_roundings, one_rounding = (
        np.clip(rescale(sums, real, single) + int(y_t.quant.zero_point[0]), -128, 127)
        for single in (False, True)
    )
    np.testing.assert_array_equal(run_tflite(sparse.tflite, x), two_roundings)
    np.testing.assert_array_equal(run_tflite(dense.tflite, x), one_rounding)
    assert 0 < np.mean(two_roundings != one_rounding) < 0.01


def rescale(acc: np.ndarray, real: float, single: bool) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (quantization_util.cc, common.h) in int64 numpy."""
    mantissa, shift = math.frexp(real)
    q = int(math.floor(mantissa * 2**31 + 0.5))
    if q == 2**31:
        q, shift = q // 2, shift + 1
    if single:
        return (acc * q + (1 << (30 - shift))) >> (31 - shift)
    left, right = max(shift, 0), max(-shift, 0)
    prod = (acc << left) * q  # SaturatingRoundingDoublingHighMul: round, truncate toward zero
    nudged = prod + np.where(prod >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))
    mask = (1 << right) - 1  # RoundingDivideByPOT: round half away from zero
    return (high >> right) + ((high & mask) > (mask >> 1) + (high < 0))


def test_float_dense_layers_1x4_blocks_run_sparse_and_random_zeros_go_through_densify():
    model = mlp((1, 4), 0.7, seed=3, hidden_block=(1, 1))
    x = np.random.default_rng(4).normal(size=(16, 256)).astype(np.float32)
    dense, sparse = qgraph.compile(model), qgraph.compile(model, sparse=True)
    f32 = S.TensorType.FLOAT32
    assert sparse_tensors(sparse.tflite) == [
        (("DENSIFY", 1), f32, [], []),
        (("FULLY_CONNECTED", 8), f32, [1], [4]),
    ]
    assert [op.type for op in sparse.graph.ops()] == ["DENSIFY", "FULLY_CONNECTED", "FULLY_CONNECTED"]
    log = messages(sparse)
    assert "hidden/kernel (hidden) float32[512, 256]: written sparse through DENSIFY, 70.0% zeros" in log[0]
    assert "logits/kernel (logits) float32[64, 512]: written sparse in 1x4 blocks" in log[1]
    assert len(sparse.tflite) < 0.45 * len(dense.tflite)
    for run in (run_tflite, run_builtin):
        np.testing.assert_allclose(run(sparse.tflite, x), run_tflite(dense.tflite, x), rtol=1e-5, atol=1e-5)
    assert rel_err(run_tflite(sparse.tflite, x), model.predict(x, verbose=0)) < 1e-5


@pytest.fixture(scope="session")
def pointwise_cnn():
    """1x1 conv -> depthwise 3x3 -> 1x1 conv, each with 70% zeros (a pruned MobileNet block)."""
    import keras

    rng = np.random.default_rng(5)
    inp = keras.Input((12, 12, 32))
    x = keras.layers.Conv2D(48, 1, activation="relu", name="expand")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="depthwise")(x)
    model = keras.Model(inp, keras.layers.Conv2D(64, 1, name="project")(x), name="pointwise")
    for layer in model.layers[1:]:
        kernel, bias = layer.get_weights()
        kernel = rng.normal(0.0, math.sqrt(2.0 / (kernel.size / kernel.shape[-1])), kernel.shape)
        kernel[rng.random(kernel.shape) < 0.7] = 0.0
        layer.set_weights([kernel.astype(np.float32), rng.normal(0.0, 0.1, bias.shape).astype(np.float32)])
    return model, rng.normal(size=(4, 12, 12, 32)).astype(np.float32)


@pytest.mark.parametrize("mode", ["float", "float16"])
def test_convolution_weights_go_through_densify(pointwise_cnn, mode):
    model, x = pointwise_cnn
    dense, sparse = qgraph.compile(model, quantize=mode), qgraph.compile(model, quantize=mode, sparse=True)
    chain = ["DENSIFY"] if mode == "float" else ["DENSIFY", "DEQUANTIZE"]  # from the constant to the conv
    weights_of = [(op.type, weights_chain(sparse.graph, op)) for op in sparse.graph.ops() if op.type in CONVS]
    assert weights_of == [("CONV_2D", chain), ("DEPTHWISE_CONV_2D", chain), ("CONV_2D", chain)]
    dtype = S.TensorType.FLOAT32 if mode == "float" else S.TensorType.FLOAT16
    assert sparse_tensors(sparse.tflite) == [(("DENSIFY", 1), dtype, [], [])] * 3
    assert all("through DENSIFY" in m for m in messages(sparse)[:3]), messages(sparse)
    assert len(sparse.tflite) < 0.7 * len(dense.tflite), (len(sparse.tflite), len(dense.tflite))
    baseline = run_tflite(dense.tflite, x)
    for run in (run_tflite, run_builtin):  # XNNPACK unpacks DENSIFY at load; the builtin DENSIFY at first run
        np.testing.assert_allclose(run(sparse.tflite, x), baseline, rtol=1e-5, atol=1e-5)
    assert rel_err(baseline, model.predict(x, verbose=0)) < (1e-5 if mode == "float" else 3e-3)


CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def weights_chain(graph, op) -> list[str]:
    """The ops between `op`'s weights and their constant, the constant's reader first."""
    chain, t = [], graph.inputs_of(op)[1]
    while (producer := graph.producer(t)) is not None:
        chain.insert(0, producer.type)
        t = graph.inputs_of(producer)[0]
    return chain


def test_int8_dense_weights_without_whole_1x16_blocks_stay_dense_with_the_reason():
    import keras

    inp = keras.Input((64,))
    model = keras.Model(inp, keras.layers.Dense(32, name="fc")(inp))
    data = np.random.default_rng(6).normal(size=(32, 64)).astype(np.float32)
    options = dict(quantize="int8", representative_data=data)
    element_pruned = qgraph.prune(model, sparsity=0.75)
    kept = qgraph.compile(element_pruned, **options, sparse=True)
    assert re.match(
        r"kept fc/kernel \(fc\) dense: 75\.0% zeros, but only \d\.\d% of its values in all-zero 1x16 blocks",
        messages(kept)[0],
    ), messages(kept)
    assert messages(kept)[0].endswith("prune it with qgraph.prune(model, block=(1, 16))")
    assert kept.tflite == qgraph.compile(element_pruned, **options).tflite

    block_pruned = qgraph.compile(qgraph.prune(model, sparsity=0.75, block=(1, 16)), **options, sparse=True)
    assert messages(block_pruned)[0].startswith("fc/kernel (fc) int8[32, 64]: written sparse in 1x16 blocks")
    assert sparse_tensors(block_pruned.tflite) == [(("FULLY_CONNECTED", 8), S.TensorType.INT8, [1], [16])]
    run_tflite(block_pruned.tflite, data)  # LiteRT accepts it


def test_weights_below_the_threshold_stay_dense_and_sparse_is_off_by_default():
    model = mlp((1, 4), 0.25, seed=7)
    plain, off, on = (
        qgraph.compile(model),
        qgraph.compile(model, sparse=False),
        qgraph.compile(model, sparse=True),
    )
    assert plain.tflite == off.tflite == on.tflite
    assert messages(plain) == []
    assert messages(on) == [
        "kept hidden/kernel (hidden) dense: 25.0% zeros, below the 30% threshold",
        "kept logits/kernel (logits) dense: 25.0% zeros, below the 30% threshold",
        "0 weights written sparse, 0 bytes saved",
    ]
    with pytest.raises(qgraph.OptionError, match="option sparse='yes' is a str; sparse takes a bool"):
        qgraph.compile(model, sparse="yes")
    with pytest.raises(qgraph.OptionError, match="sparse is only used with target 'cpu'"):
        qgraph.compile(model, target="nnapi", sparse=True)


def test_sparse_files_read_back(anchor, tmp_path, capsys):
    from qgraph.cli import main

    _, _, held_out, theirs, _, sparse = anchor
    graph = qgraph.load(sparse.tflite)
    assert serialize(graph, description=graph.meta["description"]) == sparse.tflite
    # The converter's file: densified weights re-encode to exactly its arrays; rewritten, it computes the same.
    graph = qgraph.load(theirs)
    model = S.ModelT.InitFromPackedBuf(theirs, 0)
    for t in model.subgraphs[0].tensors:
        if t.sparsity is not None:
            w = graph.tensor(t.name.decode())
            enc = encode(w.data, sparse_block(w))
            csr = t.sparsity.dimMetadata[1]
            np.testing.assert_array_equal(
                np.frombuffer(bytes(model.buffers[t.buffer].data), np.int8), enc.values
            )
            np.testing.assert_array_equal(csr.arraySegments.values, enc.segments)
            np.testing.assert_array_equal(csr.arrayIndices.values, enc.indices)
    np.testing.assert_array_equal(run_tflite(serialize(graph), held_out), run_tflite(theirs, held_out))
    (tmp_path / "converter_sparse.tflite").write_bytes(theirs)
    assert main(["inspect", str(tmp_path / "converter_sparse.tflite")]) == 0
    assert "FULLY_CONNECTED            2" in capsys.readouterr().out


def test_cli_sparse_flag(pointwise_cnn, tmp_path, capsys):
    from qgraph.cli import main

    model, _ = pointwise_cnn
    model.save(tmp_path / "cnn.keras")
    args = ["compile", str(tmp_path / "cnn.keras"), "--report"]
    assert main([*args, "-o", str(tmp_path / "dense.tflite")]) == 0
    assert main([*args, "-o", str(tmp_path / "sparse.tflite"), "--sparse"]) == 0
    out = capsys.readouterr().out
    assert "3 weights written sparse" in out and "DENSIFY 3" in out
    assert (tmp_path / "sparse.tflite").stat().st_size < (tmp_path / "dense.tflite").stat().st_size
