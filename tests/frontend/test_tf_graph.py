"""Layers qgraph has no lowering for, lowered from their traced TensorFlow graph (tf_graph.py):
a user's own layers, keras.applications' CustomScaleLayer (InceptionResNetV2) and LayerScale
(ConvNeXt), raw TF ops; checked op by op, in LiteRT against Keras (float) and against
TFLiteConverter (int8), and the named error for a TF op with no mapping."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.testing import converter_int8, max_rel_err, run_litert, sqnr_db

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

SHAPE = (12, 12, 3)


class ScaleShift(keras.layers.Layer):
    """relu(x * w + b): a user's layer with weights."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), initializer=keras.initializers.RandomUniform(0.5, 1.5))
        self.b = self.add_weight(shape=(shape[-1],), initializer=keras.initializers.RandomNormal(0, 0.3))

    def call(self, x):
        return keras.ops.relu(x * self.w + self.b)


class Project(keras.layers.Layer):
    """keras.ops.matmul with a weight: traced as a Tensordot (Shape/Gather/Prod/Reshape chain)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, shape):
        self.kernel = self.add_weight(shape=(shape[-1], self.units), initializer="random_normal")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)


class RawTF(keras.layers.Layer):
    """Raw TF ops: conv + bias_add, depthwise, pools, concat, keepdims mean, reshapes, softmax."""

    def build(self, shape):
        init = keras.initializers.RandomNormal(0, 0.3)
        self.k = self.add_weight(shape=(3, 3, shape[-1], 4), initializer=init)
        self.bias = self.add_weight(shape=(4,), initializer=init)
        self.dw = self.add_weight(shape=(3, 3, 4, 2), initializer=init)

    def call(self, x):
        y = tf.nn.bias_add(tf.nn.conv2d(x, self.k, 1, "SAME"), self.bias)
        y = tf.nn.relu6(tf.nn.depthwise_conv2d(y, self.dw, [1, 2, 2, 1], "VALID") / 2.0)
        y = tf.concat([tf.nn.avg_pool2d(y, 2, 1, "SAME"), tf.nn.max_pool2d(y, 2, 1, "SAME")], axis=-1)
        y = y - tf.reduce_mean(y, axis=[1, 2], keepdims=True)
        y = tf.reshape(y, [tf.shape(y)[0], -1, 16])
        return tf.nn.softmax(tf.squeeze(tf.expand_dims(tf.sigmoid(y), 1), 1))


class Noisy(keras.layers.Layer):
    def call(self, x, training=None):
        return keras.layers.GaussianNoise(0.1)(x, training=training)


class CumSum(keras.layers.Layer):
    def call(self, x):
        return keras.ops.cumsum(x, axis=-1)


def _model(body, shape=SHAPE):
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape)
    return keras.Model(inp, body(inp))


def _user_layers(x):
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = ScaleShift(name="scale_shift")(x)
    x = Project(6, name="project")(x)
    return keras.layers.Dense(10)(keras.layers.Flatten()(x))


def _inception_resnet_block(x):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    branch = keras.layers.Conv2D(8, 1, activation="relu")(keras.layers.Conv2D(8, 1)(x))
    x = keras.layers.Activation("relu")(CustomScaleLayer(0.17, name="custom_scale")([x, branch]))
    return keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))


def _convnext_block(x):
    from keras.src.applications.convnext import LayerScale

    x = keras.layers.Conv2D(8, 2, strides=2)(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    y = keras.layers.Dense(8)(keras.layers.Dense(16, activation="relu")(y))
    y = LayerScale(1e-6, 8, name="layer_scale")(y)
    x = keras.layers.Add()([x, y])
    return keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))


MODELS = {
    "user_layers": _user_layers,
    "custom_scale": _inception_resnet_block,
    "layer_scale": _convnext_block,
}


@pytest.fixture(scope="module")
def data():
    cal = np.random.default_rng(1).uniform(0, 1, (32, *SHAPE)).astype(np.float32)
    held_out = np.random.default_rng(2).uniform(0, 1, (16, *SHAPE)).astype(np.float32)
    return cal, held_out


@pytest.fixture(scope="module")
def models():
    built = {name: _model(body) for name, body in MODELS.items()}
    gamma = built["layer_scale"].get_layer("layer_scale").gamma  # 1e-6 at init: make it count
    gamma.assign(np.random.default_rng(3).uniform(0.5, 1.5, gamma.shape).astype(np.float32))
    return built


def _layer_ops(graph, layer: str) -> list[str]:
    return [op.type for op in graph.ops() if op.meta.get("layer") == layer]


def test_traced_layers_become_ir_ops(models):
    g = qgraph.load(models["user_layers"])
    assert _layer_ops(g, "scale_shift") == ["MUL", "ADD", "RELU"]
    # Tensordot's shape chain folded; its reshape -> MatMul -> reshape is one FULLY_CONNECTED
    (fc,) = [op for op in g.ops() if op.meta.get("layer") == "project"]
    assert fc.type == "FULLY_CONNECTED" and fc.attrs["keep_num_dims"]
    assert g.outputs_of(fc)[0].shape == (-1, 12, 12, 6)
    assert _layer_ops(qgraph.load(models["custom_scale"]), "custom_scale") == ["MUL", "ADD"]
    assert _layer_ops(qgraph.load(models["layer_scale"]), "layer_scale") == ["MUL"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_float_matches_keras(models, data, name):
    model, (_, held_out) = models[name], data
    tflite = qgraph.compile(model, "cpu").tflite
    assert max_rel_err(run_litert(tflite, held_out), model.predict(held_out, verbose=0)) < 1e-5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_as_good_as_the_converter(models, data, name):
    model, (cal, held_out) = models[name], data
    reference = model.predict(held_out, verbose=0)
    # TFLiteConverter quantizes FULLY_CONNECTED weights per channel: compare like with like.
    ours = qgraph.compile(model, "cpu", "int8", representative_data=cal, per_channel_dense=True).tflite
    theirs = converter_int8(model, cal)
    ours_db, theirs_db = (
        sqnr_db(run_litert(ours, held_out), reference),
        sqnr_db(run_litert(theirs, held_out), reference),
    )
    assert ours_db >= theirs_db - 1.0, f"qgraph {ours_db:.2f} dB, TFLiteConverter {theirs_db:.2f} dB"


def test_raw_tf_ops(data):
    model = _model(lambda x: RawTF(name="raw")(x))
    g = qgraph.load(model)
    types = _layer_ops(g, "raw")
    for t in (
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "CONCATENATION",
        "MEAN",
        "SOFTMAX",
    ):
        assert t in types, types
    assert g.outputs_of(g.op("raw"))[0].shape == (-1, 25, 16)
    held_out = data[1]
    tflite = qgraph.compile(model, "cpu").tflite
    assert max_rel_err(run_litert(tflite, held_out), model.predict(held_out, verbose=0)) < 1e-5


def test_unmapped_tf_op_names_layer_class_op_and_hook():
    model = _model(lambda x: CumSum(name="running_total")(x))
    with pytest.raises(qgraph.UnsupportedLayerError) as err:
        qgraph.load(model)
    msg = str(err.value)
    for part in (
        "'running_total'",
        "CumSum",
        "TF op 'Cumsum'",
        "qgraph_lower_layer",
        "docs/hooks.md",
        "Conv2D",
    ):
        assert part in msg, msg


def test_dynamic_input_shape_and_training_are_refused_clearly():
    model = _model(lambda x: ScaleShift(name="dyn")(x), shape=(None, None, 3))
    with pytest.raises(qgraph.UnsupportedLayerError, match=r"'dyn'.*static shape"):
        qgraph.load(model)
    model = _model(lambda x: Noisy(name="noisy")(x, training=True))
    with pytest.raises(qgraph.UnsupportedLayerError, match=r"'noisy'.*training=True"):
        qgraph.load(model)


def test_an_opdef_tf_ops_entry_is_picked_up_from_the_registry():
    class AbsPlugin:  # a plugin's op, reached by a TF op name with no code in tf_graph.py
        @qgraph.hookimpl
        def qgraph_ops(self):
            return [qgraph.OpDef("MY_ABS", "|x|", shape="same", tf_ops=("Abs",))]

    model = _model(lambda x: keras.layers.Lambda(lambda t: keras.ops.abs(t), name="absolute")(x))
    name = qgraph.register_plugin(AbsPlugin())
    try:
        g = qgraph.load(model)
    finally:
        qgraph.unregister_plugin(name)
    assert _layer_ops(g, "absolute") == ["MY_ABS"]


def test_plugin_hook_comes_first(models):
    class LowerScaleShift:
        @qgraph.hookimpl
        def qgraph_lower_layer(self, layer, inputs, graph):
            if not isinstance(layer, ScaleShift):
                return None
            out = graph.add_tensor(qgraph.Tensor(f"{layer.name}:0", inputs[0].shape))
            graph.add_op(qgraph.Op(layer.name, "RELU", meta={"layer": layer.name}), inputs, [out])
            return [out]

    plugin = LowerScaleShift()
    qgraph.register_plugin(plugin)
    try:
        g = qgraph.load(models["user_layers"])
    finally:
        qgraph.unregister_plugin(plugin)
    assert _layer_ops(g, "scale_shift") == ["RELU"]
