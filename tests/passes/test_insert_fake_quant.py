"""insert_fake_quant: annotations where int8 kernels round; emitted QAT model follows them."""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.passes.insert_fake_quant import InsertFakeQuant
from qgraph.pipeline import PassContext
from qgraph.quant.annotations import (
    ActivationFakeQuant,
    WeightFakeQuant,
    fake_quant_of,
    quantizers,
    weight_fake_quants,
)
from tests.passes.helpers import act, conv2d, messages, rng, run_pass, unary


def graph_with_concat_pool_softmax():
    """x -> conv_a (RELU6 fused), conv_b -> LOGISTIC; concat(a, sig) -> MAX_POOL -> conv_c -> SOFTMAX."""
    g, r = Graph("qat"), rng()
    x = act(g, "x", (-1, 4, 4, 2))
    _, a = conv2d(g, r, "conv_a", x, (-1, 4, 4, 3), 3, fused="RELU6")
    _, b = conv2d(g, r, "conv_b", x, (-1, 4, 4, 3), 3)
    _, sig = unary(g, "sig", "LOGISTIC", b)
    cat = act(g, "cat:0", (-1, 4, 4, 6))
    g.add_op(Op("cat", "CONCATENATION", {"axis": 3, "fused": "NONE"}), [a, sig], [cat])
    pooled = act(g, "pool:0", (-1, 2, 2, 6))
    g.add_op(
        Op("pool", "MAX_POOL_2D", {"filter": (2, 2), "stride": (2, 2), "padding": "VALID", "fused": "NONE"}),
        [cat],
        [pooled],
    )
    _, c = conv2d(g, r, "conv_c", pooled, (-1, 2, 2, 4), 4)
    _, out = unary(g, "softmax", "SOFTMAX", c)
    g.op("softmax").attrs["beta"] = 1.0
    g.inputs, g.outputs = ["x"], [out.name]
    return g


def fq(g, name):
    return fake_quant_of(g.tensor(name))


def test_quantizers_sit_where_int8_kernels_round():
    g = graph_with_concat_pool_softmax()
    changed, ctx = run_pass(InsertFakeQuant(), g, PassContext(quantize="qat"))
    assert changed
    assert fq(g, "x") == ActivationFakeQuant("x", observe=True)
    # shares the concat's quantizer; the concat reads it raw
    assert fq(g, "conv_a:0") == ActivationFakeQuant("cat:0", observe=False, raw_for=("cat",))
    assert fq(g, "sig:0") == ActivationFakeQuant("sig:0", observe=False)  # fixed range, its own
    assert quantizers(g)["sig:0"].fixed == (0.0, 255 / 256)
    assert fq(g, "cat:0") == ActivationFakeQuant("cat:0", observe=True)
    assert fq(g, "pool:0") is None  # pass-through: keeps its input's grid
    assert fq(g, "conv_b:0").observe and fq(g, "conv_c:0").observe
    assert quantizers(g)["softmax:0"].fixed == (0.0, 255 / 256)
    assert {op.name for op in g.ops() if weight_fake_quants(op)} == {"conv_a", "conv_b", "conv_c"}
    assert weight_fake_quants(g.op("conv_a")) == {1: WeightFakeQuant(axis=0, bits=8)}
    assert messages(ctx) == ["6 activation quantizers, 3 weight quantizers; 7 of 7 ops quantized"]


def test_selection_leaves_other_ops_float_and_quantizes_their_borders():
    g = graph_with_concat_pool_softmax()
    ctx = PassContext(quantize="qat", options={"select": lambda op: op.name == "conv_c", "weight_bits": 4})
    run_pass(InsertFakeQuant(), g, ctx)
    assert fq(g, "pool:0") == ActivationFakeQuant("pool:0", observe=True)  # float producer, int8 reader
    assert fq(g, "conv_c:0").observe
    assert fq(g, "conv_a:0") is None and fq(g, "cat:0") is None
    assert [op.name for op in g.ops() if weight_fake_quants(op)] == ["conv_c"]
    assert weight_fake_quants(g.op("conv_c"))[1].bits == 4


def test_emitted_qat_model_matches_float_before_ranges_exist_and_quantizes_after():
    from qgraph.emit.keras import to_keras

    g = graph_with_concat_pool_softmax()
    float_model = to_keras(g)
    run_pass(InsertFakeQuant(), g, PassContext(quantize="qat"))
    qat = to_keras(g, fake_quant=True)
    x = rng(3).uniform(-1, 1, (8, 4, 4, 2)).astype(np.float32)
    ref = np.asarray(float_model(x))
    trained = np.asarray(qat(x, training=True))  # first training call sets the ranges
    after = np.asarray(qat(x))
    assert np.abs(after - ref).max() < 0.05  # close to float...
    assert not np.allclose(after, ref, atol=1e-7)  # ...but really quantized
    np.testing.assert_allclose(
        after * 256, np.round(after * 256), atol=1e-4
    )  # softmax output on its 1/256 grid
    assert trained.shape == ref.shape
