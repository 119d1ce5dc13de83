"""Keras -> IR -> Keras round trips: load + lint + to_keras equal the original to rel 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from tests.conftest import rel_err

MODELS = ["mobilenet", "mobilenetv2", "resnet50", "concat_nested", "layer_zoo"]


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
@pytest.mark.parametrize("name", MODELS)
def test_round_trip_through_ir_is_exact(zoo, name, framework):
    model = zoo.get(name, framework)
    graph = qgraph.load(model)
    graph.lint()
    x = zoo.sample(model)
    emitted = qgraph.to_keras(graph)
    # Keras 3 kernels replay Keras 3 exactly; a tf-keras model's fused BatchNorm and conv
    # kernels round differently from keras.ops over 50+ layers of O(1) activations.
    tolerance = 1e-5 if framework == "keras" else 1e-4
    assert rel_err(emitted.predict(x, verbose=0), model.predict(x, verbose=0)) < tolerance


def test_nested_models_are_flattened_with_prefixed_names(zoo):
    graph = qgraph.load(zoo.get("concat_nested"))
    names = [op.name for op in graph.ops()]
    assert any(n.startswith("inner_block/") for n in names)
    assert any(n.startswith("inner_seq/") for n in names)
    concat = [op for op in graph.ops() if op.type == "CONCATENATION"]
    assert len(concat) == 1 and len(graph.inputs_of(concat[0])) == 3 and concat[0].attrs["axis"] == 3


def test_mobilenetv2_lowers_to_expected_op_mix(zoo):
    summary = qgraph.load(zoo.get("mobilenetv2")).summary()
    assert summary["ops_by_type"] == {
        "ADD": 10,
        "BATCH_NORM": 52,
        "CONV_2D": 35,
        "DEPTHWISE_CONV_2D": 17,
        "FULLY_CONNECTED": 1,
        "MEAN": 1,
        "PAD": 4,
        "RELU6": 35,
    }
    graph, model = qgraph.load(zoo.get("mobilenetv2")), zoo.get("mobilenetv2")
    ir_kernels = sum(t.data.size for t in graph.tensors() if t.is_constant and t.name.endswith("kernel"))
    keras_kernels = sum(int(np.prod(w.shape)) for w in model.weights if "kernel" in w.name)
    assert ir_kernels == keras_kernels


def test_sequential_model_loads(zoo):
    import keras

    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    graph = qgraph.load(model)
    assert [op.type for op in graph.ops()] == ["FULLY_CONNECTED", "RELU", "FULLY_CONNECTED"]
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    assert rel_err(qgraph.to_keras(graph).predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-6


def test_keras_file_and_h5_file_load(tmp_path, zoo):
    import tf_keras

    model = zoo.get("concat_nested")
    model.save(tmp_path / "m.keras")
    x = zoo.sample(model)
    graph = qgraph.load(str(tmp_path / "m.keras"))
    assert rel_err(qgraph.to_keras(graph).predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-5
    legacy = zoo.get("mobilenet", "tf_keras")
    legacy.save(tmp_path / "legacy.h5")
    graph = qgraph.load(tmp_path / "legacy.h5")
    x = zoo.sample(legacy)
    assert rel_err(qgraph.to_keras(graph).predict(x, verbose=0), legacy.predict(x, verbose=0)) < 1e-5
    assert isinstance(tf_keras.__version__, str)


def test_unsupported_layer_names_layer_class_and_hook():
    import keras

    class RunningTotal(keras.layers.Layer):  # no lowering, and its traced graph has Cumsum
        def call(self, x):
            return keras.ops.cumsum(x, axis=-1)

    inp = keras.Input((4, 8))
    out = RunningTotal(name="ln")(inp)
    with pytest.raises(qgraph.UnsupportedLayerError) as err:
        qgraph.load(keras.Model(inp, out))
    msg = str(err.value)
    assert "'ln'" in msg and "RunningTotal" in msg and "qgraph_lower_layer" in msg


def test_unsupported_option_names_the_option():
    import keras

    inp = keras.Input((8, 8, 3))
    out = keras.layers.Conv2D(4, 3, padding="valid")(inp)
    out = keras.layers.ReLU(max_value=4.0, name="relu4")(out)
    with pytest.raises(qgraph.UnsupportedLayerError, match=r"relu4.*max_value=4.0"):
        qgraph.load(keras.Model(inp, out))


def test_subclassed_model_is_refused_clearly():
    import keras

    class Net(keras.Model):
        def call(self, x):
            return x * 2

    with pytest.raises(qgraph.QGraphError, match="Functional"):
        qgraph.load(Net())


def test_plugin_lowers_a_layer_the_frontend_does_not_know():
    import keras

    inp = keras.Input((5,))
    out = keras.layers.LayerNormalization(name="ln", center=False, scale=False)(inp)
    model = keras.Model(inp, out)

    class LowerLayerNormAsIdentity:  # a toy lowering, enough to see the hook consulted first
        @qgraph.hookimpl
        def qgraph_lower_layer(self, layer, inputs, graph):
            if type(layer).__name__ != "LayerNormalization":
                return None
            out = graph.add_tensor(qgraph.Tensor(f"{layer.name}:0", inputs[0].shape))
            graph.add_op(qgraph.Op(layer.name, "IDENTITY"), inputs, [out])
            return [out]

    plugin = LowerLayerNormAsIdentity()
    qgraph.register_plugin(plugin)
    try:
        graph = qgraph.load(model)
    finally:
        qgraph.unregister_plugin(plugin)
    assert [op.type for op in graph.ops()] == ["IDENTITY"]


def test_every_lowering_names_a_class_that_exists():
    """A misspelt class path would never match a layer: the lowering would silently be dead."""
    import keras  # noqa: F401  (the public layer names resolve in keras.layers)

    import qgraph.emit.keras  # noqa: F401
    import qgraph.quant.layers  # noqa: F401
    from qgraph.frontend.lowering import LOWERINGS, _classes, spec_name

    dead = [spec_name(spec) for spec in LOWERINGS if not _classes(spec)]
    assert not dead, f"lowerings registered for classes that do not exist: {dead}"


def test_a_keras_op_node_with_a_scalar_is_not_the_merge_layer_of_the_same_name():
    """`x + 3.0` is a keras.src.ops.numpy.Add node, not keras.layers.Add: the scalar counts."""
    import keras
    import numpy as np

    from qgraph.testing import max_rel_err, run_litert

    x = keras.Input((8,))
    y = keras.layers.ReLU(6.0)(3.0 - x * 2.0) / 6.0 + keras.ops.negative(x)
    model = keras.Model(x, [y])
    sample = np.random.default_rng(0).uniform(-4, 4, (4, 8)).astype(np.float32)
    assert (
        max_rel_err(run_litert(qgraph.compile(model).tflite, sample), model.predict(sample, verbose=0)) < 1e-6
    )


def test_a_subclass_that_overrides_call_is_not_lowered_as_its_base():
    import keras

    from qgraph.frontend.lowering import lowering_for

    class Doubled(keras.layers.Dense):
        def call(self, inputs):
            return super().call(inputs) * 2.0

    class Renamed(keras.layers.Dense):
        pass

    fn, why = lowering_for(Doubled(4))
    assert fn is None and "overrides call()" in why
    assert lowering_for(Renamed(4))[0] is lowering_for(keras.layers.Dense(4))[0]


@pytest.mark.parametrize("approximate", [True, False])
def test_keras_ops_gelu_keeps_its_form(approximate):
    import keras

    from qgraph.testing import max_rel_err, run_litert

    x = keras.Input((16,))
    model = keras.Model(x, keras.ops.gelu(keras.layers.Dense(16)(x), approximate=approximate))
    sample = np.random.default_rng(0).normal(0, 2, (4, 16)).astype(np.float32)
    graph = qgraph.load(model)
    assert [op.attrs.get("approximate") for op in graph.ops() if op.type == "GELU"] == [approximate]
    assert (
        max_rel_err(run_litert(qgraph.compile(model).tflite, sample), model.predict(sample, verbose=0)) < 1e-5
    )
