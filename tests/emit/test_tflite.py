"""The TFLite writer: every written file loads and runs in LiteRT and matches Keras; the
format rules of shared/specs/tflite-format.md hold; output is deterministic and atomic."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import qgraph
from qgraph.demo import run_tflite
from qgraph.emit.schema import S
from tests.conftest import rel_err

MODELS = ["mobilenet", "mobilenetv2", "resnet50", "concat_nested", "layer_zoo"]
OP_NAMES = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}


def parse(data: bytes):
    return S.ModelT.InitFromPackedBuf(data, 0)


def op_counts(data: bytes) -> Counter:
    m = parse(data)
    codes = [OP_NAMES[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in m.operatorCodes]
    return Counter(codes[op.opcodeIndex] for op in m.subgraphs[0].operators)


@pytest.fixture(scope="session")
def compiled(zoo):
    cache = {}

    def get(name, framework="keras"):
        if (name, framework) not in cache:
            cache[name, framework] = qgraph.compile(zoo.get(name, framework), target="cpu", quantize="float")
        return cache[name, framework]

    return get


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
@pytest.mark.parametrize("name", MODELS)
def test_float_tflite_runs_in_litert_and_matches_keras(zoo, compiled, name, framework):
    model = zoo.get(name, framework)
    x = zoo.sample(model)
    got = run_tflite(compiled(name, framework).tflite, x)
    assert rel_err(got, model.predict(x, verbose=0)) < 1e-4


def test_sequential_cnn_and_digits_cnn_match_keras(digits):
    import keras

    model = keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    x = np.random.default_rng(0).normal(size=(4, 12, 12, 2)).astype(np.float32)
    assert rel_err(run_tflite(qgraph.compile(model).tflite, x), model.predict(x, verbose=0)) < 1e-4
    dmodel, (_, _, x_test, _) = digits
    got = run_tflite(qgraph.compile(dmodel).tflite, x_test[:64])
    assert rel_err(got, dmodel.predict(x_test[:64], verbose=0)) < 1e-4


def test_no_more_ops_than_tfliteconverter(zoo, compiled):
    import tensorflow as tf

    model = zoo.get("mobilenetv2")
    reference = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ours, theirs = op_counts(compiled("mobilenetv2").tflite), op_counts(reference)
    assert sum(ours.values()) <= sum(theirs.values()), (ours, theirs)
    assert ours == theirs  # same op mix: PAD folded, BN folded, ReLU6 fused, like the converter


def test_file_follows_the_format_rules(compiled):
    data = compiled("concat_nested").tflite
    assert data[4:8] == b"TFL3"
    m = parse(data)
    assert m.version == 3
    assert m.buffers[0].data is None
    assert len(m.subgraphs) == 1
    for c in m.operatorCodes:
        assert c.deprecatedBuiltinCode == min(c.builtinCode, 127)
    (sig,) = m.signatureDefs
    assert sig.signatureKey == b"serving_default"
    assert [t.name for t in sig.inputs] == [b"pixels"]
    meta = {md.name: bytes(m.buffers[md.buffer].data) for md in m.metadata}
    assert meta[b"min_runtime_version"].rstrip(b"\0") in (b"1.14.0", b"1.15.0", b"2.3.0")
    assert b"qgraph" in m.description
    sg = m.subgraphs[0]
    assert list(sg.tensors[sg.inputs[0]].shapeSignature) == [-1, 32, 32, 3]


def test_constant_buffers_are_16_byte_aligned(compiled):
    data = compiled("mobilenetv2").tflite
    raw = S.Model.GetRootAs(data, 0)
    for i in range(1, raw.BuffersLength()):
        buf = raw.Buffers(i)
        if buf.DataLength():
            # The data vector's first byte sits at its table offset + 4 (the length prefix).
            start = buf._tab.Vector(buf._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"


def test_output_is_deterministic(zoo):
    model = zoo.get("concat_nested")
    assert qgraph.compile(model).tflite == qgraph.compile(model).tflite


def test_write_is_atomic_and_error_leaves_no_file(tmp_path, zoo):
    model = zoo.get("concat_nested")
    out = tmp_path / "m.tflite"
    result = qgraph.compile(model, output=out)
    assert out.read_bytes() == result.tflite
    bad = tmp_path / "bad.tflite"
    with pytest.raises(qgraph.QGraphError, match="quantize='int4'"):
        qgraph.compile(model, quantize="int4", output=bad)
    assert not bad.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]


def test_unknown_target_and_option_are_named(zoo):
    model = zoo.get("concat_nested")
    with pytest.raises(qgraph.TargetError, match="unknown target 'gpu'.*cpu, edgetpu, ethos-u, nnapi"):
        qgraph.compile(model, target="gpu")
    with pytest.raises(qgraph.OptionError, match="unknown option.*api_levl"):
        qgraph.compile(model, target="nnapi", api_levl=29)
    with pytest.raises(qgraph.TargetError, match="edgetpu.*does not run quantize='float'"):
        qgraph.compile(model, target="edgetpu", quantize="float")


def test_plugin_serializes_an_op_through_the_hook(zoo):
    from qgraph.emit.tflite import serialize
    from qgraph.emit.tflite_ops import OpEncoding

    g = qgraph.Graph("g")
    x = g.add_tensor(qgraph.Tensor("x", (1, 4)))
    y = g.add_tensor(qgraph.Tensor("y", (1, 4)))
    g.add_op(qgraph.Op("abs", "ABS"), [x], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    with pytest.raises(
        qgraph.UnsupportedOpError, match="'abs'.*ABS.*OpDef that has an encoder.*qgraph_ops hook"
    ):
        serialize(g)

    class AbsPlugin:
        @qgraph.hookimpl
        def qgraph_serialize_op(self, op, ctx):
            return OpEncoding("ABS", 1) if op.type == "ABS" else None

    plugin = AbsPlugin()
    qgraph.register_plugin(plugin)
    try:
        data = serialize(g)
    finally:
        qgraph.unregister_plugin(plugin)
    got = run_tflite(data, np.array([[-1.0, 2.0, -3.5, 0.0]], np.float32))
    np.testing.assert_array_equal(got, [[1.0, 2.0, 3.5, 0.0]])


def test_relu_after_concat_runs_with_and_without_xnnpack():
    import keras
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    inp = keras.Input((6, 6, 3))
    a, b = keras.layers.Conv2D(4, 3, padding="same")(inp), keras.layers.Conv2D(4, 1)(inp)
    model = keras.Model(inp, keras.layers.ReLU()(keras.layers.Concatenate()([a, b])))
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 3)).astype(np.float32)
    data = qgraph.compile(model).tflite
    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        interp = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        got = interp.get_tensor(interp.get_output_details()[0]["index"])
        assert rel_err(got, model.predict(x, verbose=0)) < 1e-5
