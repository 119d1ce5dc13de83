"""Collaborative optimization end to end on the digits CNN trained in the session: prune,
cluster, PQAT, CQAT, PCQAT; every int8 file runs in LiteRT and keeps every zero and cluster."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.compress.constraints import constraint_of
from qgraph.compress.select import compressible_weights
from qgraph.demo import accuracy_in_litert
from qgraph.ops import op_facts
from qgraph.testing import converter_int8, max_rel_err, run_litert, sqnr_db


def fit(model, data, epochs, lr):
    import keras

    x_train, y_train, _, _ = data
    keras.utils.set_random_seed(0)  # the same shuffles whatever ran before
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


def keras_accuracy(model, data) -> float:
    _, _, x_test, y_test = data
    return float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))


def kernels(tflite: bytes) -> dict[str, np.ndarray]:
    """{op: int8 weights, output channel axis first} of every kernel pruning and clustering reach."""
    graph = qgraph.load(tflite)
    out = {}
    for op in graph.ops():
        facts = op_facts(op.type)
        if facts.compress_port is None or not facts.compress_by_default:
            continue
        w = graph.inputs_of(op)[facts.compress_port]
        if w.data is not None and w.dtype == "int8":
            out[op.name] = np.moveaxis(w.data, facts.output_channel_axis or 0, 0)
    assert out, "no int8 kernels found"
    return out


def distinct_per_channel(kernel: np.ndarray) -> int:
    return max(np.unique(row).size for row in kernel)


@pytest.fixture(scope="module")
def float_model(digits):
    model, data = digits
    return model, data, keras_accuracy(model, data)


@pytest.fixture(scope="module")
def pruned(float_model):
    model, data, _ = float_model
    return fit(fit(qgraph.prune(model, sparsity=0.5), data, epochs=6, lr=1e-3), data, epochs=2, lr=1e-4)


@pytest.fixture(scope="module")
def pqat(pruned, float_model):
    _, data, _ = float_model
    qat = fit(qgraph.quantize_model(pruned, preserve=("sparsity",)), data, epochs=3, lr=1e-4)
    return qat, qgraph.compile(qat)


def test_pruned_model_reaches_its_sparsity_at_once_and_float_export_keeps_it(pruned, float_model):
    _, data, _ = float_model
    x = data[2][:16]
    result = qgraph.compile(pruned, quantize="float")
    assert max_rel_err(run_litert(result.tflite, x), pruned.predict(x, verbose=0)) < 1e-4
    graph = qgraph.load(result.tflite)
    weights = [
        t.data
        for op in graph.ops()
        for t in graph.inputs_of(op)[1:2]
        if op.type in ("CONV_2D", "FULLY_CONNECTED")
    ]
    assert len(weights) == 5 and all(np.mean(w == 0) >= 0.5 for w in weights)
    assert not any(
        np.mean(t.data == 0) > 0
        for op in graph.ops()
        if op.type == "DEPTHWISE_CONV_2D"
        for t in graph.inputs_of(op)[1:2]
    )


def test_pruned_ptq_int8_keeps_zeros_and_matches_the_converter(pruned, float_model):
    _, data, _ = float_model
    x_train, x_test = data[0][:100], data[2][:64]
    ours = qgraph.compile(pruned, quantize="int8", representative_data=x_train)
    theirs = converter_int8(pruned, x_train)
    reference = pruned.predict(x_test, verbose=0)
    assert (
        sqnr_db(run_litert(ours.tflite, x_test), reference)
        >= sqnr_db(run_litert(theirs, x_test), reference) - 1.0
    )
    assert all(np.mean(k == 0) >= 0.5 for k in kernels(ours.tflite).values())
    checked = next(r for r in ours.report.passes if r.name == "check_compression").messages
    assert len(checked) == 5 and all("zeros (mask 50.0%)" in m for m in checked)


def test_pqat_int8_keeps_half_the_weights_zero_and_the_accuracy(pqat, float_model):
    _, data, float_acc = float_model
    qat, result = pqat
    int8_acc, probs, _ = accuracy_in_litert(result.tflite, data[2], data[3])
    assert int8_acc >= float_acc - 0.01, (int8_acc, float_acc)
    assert np.mean(probs.argmax(1) == qat.predict(data[2], verbose=0).argmax(1)) >= 0.99
    assert all(np.mean(k == 0) >= 0.5 for k in kernels(result.tflite).values())


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_cluster_16_then_cqat_keeps_16_values_per_channel_and_the_accuracy(float_model, per_channel):
    model, data, float_acc = float_model
    clustered = fit(qgraph.cluster(model, clusters=16, per_channel=per_channel), data, epochs=2, lr=1e-4)
    # BatchNorm trained live (as in tfmot): its moving statistics followed the clustered kernels.
    live = {layer.name: layer for layer in clustered.layers if type(layer).__name__ == "BatchNormalization"}
    assert sorted(live) == ["dw_bn", "head_bn", "stem_bn"]
    moved = live["head_bn"].moving_mean.numpy() - model.get_layer("head_bn").moving_mean.numpy()
    assert np.abs(moved).max() > 1e-3
    # The Rescaling stays a MUL: the stem kernel trains at its own scale, as the user built it.
    assert any(getattr(layer, "op_type", "") == "MUL" for layer in clustered.layers)
    # PTQ of the clustered float model alone keeps the accuracy too (the column that was
    # 1.2 points behind tfmot while the fine-tune trained folded kernels).
    ptq = qgraph.compile(clustered, quantize="int8", representative_data=data[0][:100])
    assert accuracy_in_litert(ptq.tflite, data[2], data[3])[0] >= float_acc - 0.01
    cqat = fit(qgraph.quantize_model(clustered, preserve=("clusters",)), data, epochs=2, lr=1e-4)
    result = qgraph.compile(cqat)
    int8_acc, _, _ = accuracy_in_litert(result.tflite, data[2], data[3])
    assert int8_acc >= float_acc - 0.01, (int8_acc, float_acc)
    for name, k in kernels(result.tflite).items():
        assert distinct_per_channel(k) <= 16, name
    # The float weights too: per tensor, 16 values in all; per channel, 16 in each channel.
    graph = qgraph.load(clustered)
    for cw in compressible_weights(graph):
        values = np.moveaxis(cw.tensor.data, cw.output_axis, 0)
        assert (distinct_per_channel(values) if per_channel else np.unique(values).size) <= 16


def test_pcqat_keeps_zeros_and_8_clusters(pruned, float_model):
    _, data, float_acc = float_model
    # Clustering fine-tunes at the pruning rate (1e-3, as bench/collab.py); QAT at 1e-4.
    pc = fit(qgraph.cluster(pruned, clusters=8, preserve_sparsity=True), data, epochs=3, lr=1e-3)
    pcqat = fit(qgraph.quantize_model(pc), data, epochs=4, lr=1e-4)  # preserve=None keeps both
    result = qgraph.compile(pcqat)
    int8_acc, _, _ = accuracy_in_litert(result.tflite, data[2], data[3])
    assert int8_acc >= float_acc - 0.01, (int8_acc, float_acc)
    for name, k in kernels(result.tflite).items():
        assert np.mean(k == 0) >= 0.5 and distinct_per_channel(k) <= 8, name


def test_2_by_4_sparsity_along_the_input_channel(float_model):
    model, data, _ = float_model
    pruned = fit(qgraph.prune(model, m_by_n=(2, 4)), data, epochs=1, lr=1e-3)
    result = qgraph.compile(pruned, quantize="int8", representative_data=data[0][:100])
    x = data[2][:32]
    assert sqnr_db(run_litert(result.tflite, x), pruned.predict(x, verbose=0)) > 15
    checked = 0
    for name, k in kernels(result.tflite).items():
        if k.shape[-1] % 4 == 0:  # the stem's single input channel is left dense, with a report line
            assert (k.reshape(-1, 4) == 0).sum(axis=1).min() >= 2, name
            checked += 1
    assert checked == 4
    assert any("not a multiple of 4" in m for r in pruned.qgraph_report for m in r.messages)


@pytest.mark.parametrize("kind", ["pruned", "clustered", "pc", "pqat"])
def test_each_model_type_saves_loads_and_exports_the_same_file(tmp_path, float_model, pruned, kind):
    import keras

    model, data, _ = float_model
    built = {
        "pruned": lambda: pruned,
        "clustered": lambda: qgraph.cluster(model, clusters=8, per_channel=True),
        "pc": lambda: qgraph.cluster(pruned, clusters=8, preserve_sparsity=True),
        "pqat": lambda: qgraph.quantize_model(pruned, representative_data=data[0][:32]),
    }[kind]()
    path = tmp_path / f"{kind}.keras"
    built.save(path)
    loaded = keras.models.load_model(path)
    x = data[2][:8]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), built.predict(x, verbose=0), atol=1e-6)
    a = qgraph.compile(built, quantize="float").tflite
    assert a == qgraph.compile(loaded, quantize="float").tflite
    graph = qgraph.load(loaded)
    assert all(constraint_of(cw.tensor) is not None for cw in compressible_weights(graph))
    fit(loaded, data, epochs=1, lr=1e-4)  # and it keeps training


def test_masks_follow_the_schedule_during_fit_without_a_callback(float_model):
    model, data, _ = float_model
    # 1347 samples / 32 = 43 steps per epoch: 2 epochs reach step 86 >= end_step 40.
    pruned = qgraph.prune(model, sparsity=0.8, schedule="polynomial", begin_step=0, end_step=40, frequency=10)
    graph = qgraph.load(pruned)
    assert all(np.mean(cw.tensor.data == 0) == 0 for cw in compressible_weights(graph))  # starts dense
    fit(pruned, data, epochs=2, lr=1e-3)
    graph = qgraph.load(pruned)
    for cw in compressible_weights(graph):
        assert np.mean(cw.tensor.data == 0) >= 0.8, cw.layer


def test_a_tf_keras_model_is_pruned_and_clustered(zoo):
    model = zoo.get("concat_nested", "tf_keras")
    x = zoo.sample(model, 4)
    pruned = qgraph.prune(model, sparsity=0.5)
    clustered = qgraph.cluster(pruned, clusters=8, preserve_sparsity=True)
    result = qgraph.compile(clustered, quantize="float")
    assert max_rel_err(run_litert(result.tflite, x), clustered.predict(x, verbose=0)) < 1e-4
    checked = next(r for r in result.report.passes if r.name == "check_compression").messages
    assert checked and all("<=" in m and "zeros" in m for m in checked)


def test_layers_with_several_kernels_embeddings_and_attention_are_clustered():
    import keras

    keras.utils.set_random_seed(0)
    tokens = keras.Input((12,), dtype="int32")
    x = keras.layers.Embedding(50, 32, name="embed")(tokens)
    x = keras.layers.MultiHeadAttention(2, 16, name="mha")(x, x)
    x = keras.layers.Reshape((12, 32, 1))(x)
    x = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    out = keras.layers.Dense(4, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(tokens, out)
    samples = np.random.default_rng(0).integers(0, 50, (8, 12)).astype(np.int32)
    clustered = qgraph.cluster(qgraph.prune(model, sparsity=0.5), clusters=4, preserve_sparsity=True)
    result = qgraph.compile(clustered, quantize="float")
    assert max_rel_err(run_litert(result.tflite, samples), clustered.predict(samples, verbose=0)) < 1e-4
    checked = next(r for r in result.report.passes if r.name == "check_compression").messages
    layers = sorted({m.split()[0].split("_")[0] for m in checked})
    # the table, MHA's four projections, the pointwise half of the separable conv, the head
    assert layers == ["embed", "head", "mha", "sep"] and len(checked) == 7, checked
    assert all("50.0% zeros" in m and int(m.split("<= ")[1].split()[0]) <= 4 for m in checked)
    graph = qgraph.load(result.tflite)
    depthwise = [op for op in graph.ops() if op.type == "DEPTHWISE_CONV_2D"]
    assert depthwise and np.unique(graph.inputs_of(depthwise[0])[1].data).size > 4
