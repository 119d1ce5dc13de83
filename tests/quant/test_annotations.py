"""qgraph.quant.annotations: typed quantization facts on tensors, ops and graphs."""

from __future__ import annotations

import dataclasses
import pathlib
import re

import numpy as np
import pytest

from qgraph.ir import Graph, Op, Tensor
from qgraph.quant.annotations import (
    ActivationFakeQuant,
    QuantizerSpec,
    Range,
    WeightFakeQuant,
    fake_quant_of,
    has_learned_ranges,
    is_float,
    mark_float,
    mark_learned_ranges,
    observed_range,
    quantizers,
    reads_raw,
    set_fake_quant,
    set_observed_range,
    set_quantizers,
    set_weight_fake_quants,
    weight_fake_quants,
)
from tests.passes.helpers import act, conv2d, rng, unary


def annotated_graph() -> Graph:
    g = Graph("annotated")
    x = act(g, "x", (-1, 4, 4, 2))
    conv, y = conv2d(g, rng(), "conv", x, (-1, 4, 4, 3), 3)
    g.inputs, g.outputs = ["x"], [y.name]
    set_fake_quant(x, ActivationFakeQuant("x", observe=False, raw_for=("conv",)))
    set_observed_range(y, (-1.5, 2.0))
    mark_float(conv)
    set_weight_fake_quants(conv, {1: WeightFakeQuant(axis=0, bits=4)})
    set_quantizers(g, {"x": QuantizerSpec(8, fixed=[0.0, 1.0])})
    mark_learned_ranges(g)
    return g


def test_defaults_when_absent():
    t, op, g = Tensor("t", (1,)), Op("op", "ADD"), Graph("g")
    assert fake_quant_of(t) is None and observed_range(t) is None and not reads_raw(op, t)
    assert not is_float(op) and weight_fake_quants(op) == {}
    assert quantizers(g) == {} and not has_learned_ranges(g)
    assert QuantizerSpec() == QuantizerSpec(bits=8, fixed=None, init=None)
    assert WeightFakeQuant() == WeightFakeQuant(axis=None, bits=8, affine=False)


def test_round_trip():
    g = annotated_graph()
    x, y, conv = g.tensor("x"), g.tensor("conv:0"), g.op("conv")
    assert fake_quant_of(x) == ActivationFakeQuant("x", observe=False, raw_for=("conv",))
    assert reads_raw(conv, x) and not reads_raw(Op("other", "ADD"), x)
    assert observed_range(y) == Range(-1.5, 2.0) == (-1.5, 2.0)
    lo, hi = observed_range(y)
    assert (lo, hi) == (observed_range(y).min, observed_range(y).max)
    assert is_float(conv)
    assert weight_fake_quants(conv) == {1: WeightFakeQuant(0, 4)}
    assert quantizers(g) == {"x": QuantizerSpec(8, fixed=(0.0, 1.0))}
    assert has_learned_ranges(g)


def test_values_are_normalized_and_immutable():
    spec = QuantizerSpec(np.int64(8), fixed=np.array([0.0, 0.5]), init=[-1, 1])
    assert spec.fixed == (0.0, 0.5) and spec.init == (-1.0, 1.0) and type(spec.bits) is int
    assert ActivationFakeQuant("q", raw_for=["cat"]).raw_for == ("cat",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.bits = 4  # type: ignore[misc]
    t = Tensor("t", (1,))
    set_observed_range(t, (np.float32(-1), np.float32(3)))
    assert type(observed_range(t).min) is float


def test_returned_mappings_are_copies():
    g = annotated_graph()
    quantizers(g).clear()
    weight_fake_quants(g.op("conv")).clear()
    assert quantizers(g) and weight_fake_quants(g.op("conv"))


def test_graph_copy_keeps_them_and_copies_are_independent():
    g = annotated_graph()
    c = g.copy()
    for graph in (g, c):
        assert fake_quant_of(graph.tensor("x")).quantizer == "x"
        assert observed_range(graph.tensor("conv:0")) == (-1.5, 2.0)
        assert is_float(graph.op("conv")) and weight_fake_quants(graph.op("conv"))[1].bits == 4
        assert "x" in quantizers(graph) and has_learned_ranges(graph)
    set_fake_quant(c.tensor("x"), None)
    set_observed_range(c.tensor("conv:0"), (0.0, 1.0))
    mark_float(c.op("conv"), False)
    set_weight_fake_quants(c.op("conv"), {})
    set_quantizers(c, {**quantizers(c), "y": QuantizerSpec()})
    mark_learned_ranges(c, False)
    assert fake_quant_of(g.tensor("x")) is not None
    assert observed_range(g.tensor("conv:0")) == (-1.5, 2.0)
    assert is_float(g.op("conv")) and weight_fake_quants(g.op("conv"))
    assert list(quantizers(g)) == ["x"] and has_learned_ranges(g)


def test_clearing_leaves_no_key_behind():
    g = annotated_graph()
    set_fake_quant(g.tensor("x"), None)
    set_observed_range(g.tensor("conv:0"), None)
    mark_float(g.op("conv"), False)
    set_weight_fake_quants(g.op("conv"), {})
    set_quantizers(g, {})
    mark_learned_ranges(g, False)
    assert g.tensor("x").meta == {} and g.tensor("conv:0").meta == {}
    assert g.op("conv").meta == {} and g.meta == {}


def test_weight_fake_quant_keeps_the_saved_keras_config_format():
    # `IROp.get_config()["weight_fq"]` entries, as saved QAT models hold them.
    assert WeightFakeQuant(0, 8).to_config() == {"axis": 0, "bits": 8}
    assert WeightFakeQuant(affine=True).to_config() == {"axis": None, "bits": 8, "affine": True}
    for config in ({"axis": 3, "bits": 4}, {"axis": None, "bits": 8, "affine": True}):
        assert WeightFakeQuant.from_config(config).to_config() == config


def test_ir_to_qat_keras_and_back_keeps_the_annotations():
    """insert_fake_quant -> emitted QAT Keras model -> frontend: the weight fake-quant, the
    float marker and the learned ranges come back as the same typed annotations."""
    import qgraph
    from qgraph.emit.keras import to_keras
    from qgraph.passes.insert_fake_quant import InsertFakeQuant
    from qgraph.pipeline import PassContext
    from tests.passes.helpers import run_pass

    g = Graph("round_trip")
    x = act(g, "x", (-1, 4, 4, 2))
    _, a = conv2d(g, rng(), "conv_a", x, (-1, 4, 4, 3), 3)
    _, b = conv2d(g, rng(1), "conv_b", a, (-1, 4, 4, 3), 3)
    _, out = unary(g, "sig", "LOGISTIC", b)
    g.inputs, g.outputs = ["x"], [out.name]
    ctx = PassContext(quantize="qat", options={"select": lambda op: op.name != "conv_b", "weight_bits": 6})
    run_pass(InsertFakeQuant(), g, ctx)
    qat = to_keras(g, fake_quant=True)
    assert qat.get_layer("conv_a").weight_fq == {1: {"axis": 0, "bits": 6}}
    assert qat.get_layer("conv_b").float_op and qat.get_layer("conv_b").weight_fq == {}
    qat(rng(2).uniform(-1, 1, (4, 4, 4, 2)).astype(np.float32), training=True)  # sets the ranges

    back = qgraph.load(qat)
    assert has_learned_ranges(back)
    ops = {op.meta["layer"]: op for op in back.ops()}
    assert weight_fake_quants(ops["conv_a"]) == {1: WeightFakeQuant(axis=0, bits=6)}
    assert is_float(ops["conv_b"]) and weight_fake_quants(ops["conv_b"]) == {}
    learned = back.outputs_of(ops["conv_a"])[0]
    assert observed_range(learned) is not None and observed_range(learned).min <= 0.0
    assert observed_range(back.tensor(back.outputs[0])) == (0.0, 255 / 256)  # LOGISTIC: fixed


KEYS = "fq|fq_raw_for|weight_fq|const_fq|float|range|qat|quantizers|weight_bits|weight_axis"


def test_no_module_spells_the_old_meta_keys():
    root = pathlib.Path(__file__).resolve().parents[2]
    pattern = re.compile(
        rf"""meta(\[|\.get\(|\.pop\(|\.setdefault\()\s*["']({KEYS})["']|["']({KEYS})["']\s+(not\s+)?in\s+\w*\.?meta\b"""
    )
    offenders = [
        f"{path.relative_to(root)}:{i}"
        for folder in ("qgraph", "passes", "plugins")
        for path in sorted((root / folder).rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
