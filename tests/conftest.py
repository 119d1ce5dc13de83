"""Shared, session-scoped fixtures: TensorFlow's import and model builds cost seconds."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["QGRAPH_DEBUG"] = "1"  # lint after every pass, always, in the test suite

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from qgraph.testing import realistic_statistics  # noqa: E402


def randomize_batchnorm(model, seed: int = 0):
    """Give every BatchNormalization non-trivial statistics, so folding is really tested."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if type(layer).__name__ == "BatchNormalization":
            new = []
            for w, v in zip(layer.weights, layer.get_weights(), strict=True):
                n = w.name.split("/")[-1].split(":")[0]
                if "variance" in n or "gamma" in n:
                    new.append(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
                else:
                    new.append(rng.normal(0, 0.2, v.shape).astype(np.float32))
            layer.set_weights(new)
    return model


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def concat_nested_model(k):
    """Functional model with a 3-input Concatenate and a nested Functional sub-model,
    built with the given Keras module (`keras` or `tf_keras`)."""
    L = k.layers
    sub_in = k.Input((16, 16, 8))
    s = L.Conv2D(8, 3, padding="same", use_bias=False)(sub_in)
    s = L.BatchNormalization()(s)
    s = L.Activation("swish")(s)
    sub = k.Model(sub_in, s, name="inner_block")
    seq = k.Sequential(
        [k.Input((16, 16, 8)), L.DepthwiseConv2D(3, padding="same"), L.ReLU(6.0)], name="inner_seq"
    )
    inp = k.Input((32, 32, 3), name="pixels")
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    a = sub(x)
    b = seq(x)
    c = L.SeparableConv2D(8, 3, padding="same", activation="hard_sigmoid")(x)
    x = L.Concatenate(axis=-1)([a, b, c])
    x = L.AveragePooling2D(2)(x)
    x = L.UpSampling2D(2)(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(16, 1, activation="tanh")(x)
    x = L.Multiply()([x, L.Activation("sigmoid")(x)])
    x = L.Flatten()(x)
    x = L.Dense(10)(x)
    x = L.Dropout(0.1)(x)
    out = L.Softmax()(x)
    return k.Model(inp, out, name="concat_nested")


def layer_zoo_model(k):
    """The layers and activations the other fixtures do not cover."""
    L = k.layers
    inp = k.Input((12, 12, 4), name="zoo_in")
    a = L.Conv2D(6, 3, padding="same", activation="relu6")(inp)
    b = L.Conv2D(6, 3, padding="same", activation="hard_sigmoid")(inp)
    c = L.Conv2D(6, 1, activation="hard_swish" if hasattr(k.activations, "hard_swish") else "relu")(inp)
    x = L.Maximum()([L.Subtract()([a, b]), L.Minimum()([b, c])])
    x = L.LeakyReLU()(x)
    x = L.UpSampling2D(2, interpolation="bilinear")(x)
    x = L.Activation("relu")(L.BatchNormalization()(L.DepthwiseConv2D(3, strides=2, padding="same")(x)))
    g = L.GlobalMaxPooling2D()(x)
    r = L.Reshape((12, 4))(L.Flatten()(L.AveragePooling2D(3)(L.Conv2D(3, 1)(x))))
    r = L.Dense(5, activation="sigmoid")(r)  # rank-3 Dense: keep_num_dims
    out = L.Concatenate(axis=1)([L.Dense(4, activation="tanh")(g), L.Flatten()(r)])
    return k.Model(inp, L.Activation("softmax")(out), name="layer_zoo")


# Input sizes are smaller than ImageNet's 224 to keep the suite fast; the layers are the same.
# Logits (no softmax): 1000 near-uniform probabilities would make a weak reference.
MODEL_BUILDERS = {
    "mobilenet": lambda k: k.applications.MobileNet(
        weights=None, input_shape=(128, 128, 3), classifier_activation=None
    ),
    "mobilenetv2": lambda k: k.applications.MobileNetV2(
        weights=None, input_shape=(96, 96, 3), classifier_activation=None
    ),
    "resnet50": lambda k: k.applications.ResNet50(
        weights=None, input_shape=(64, 64, 3), classifier_activation=None
    ),
    "concat_nested": concat_nested_model,
    "layer_zoo": layer_zoo_model,
}


#: what a model's input expects (concat_nested starts with Rescaling(1/127.5, offset=-1): pixels).
INPUT_RANGES = {"concat_nested": (0.0, 255.0)}


class ModelZoo:
    def __init__(self):
        self._cache = {}

    def get(self, name: str, framework: str = "keras"):
        key = (name, framework)
        if key not in self._cache:
            if framework == "keras":
                import keras as k
            else:
                import tf_keras as k
            k.utils.set_random_seed(0)
            model = randomize_batchnorm(MODEL_BUILDERS[name](k))  # gamma and beta not 1 and 0
            # ... and moving statistics from data, so activations neither vanish nor explode.
            self._cache[key] = realistic_statistics(model, self.sample(model, n=16, seed=99))
        return self._cache[key]

    def sample(self, model, n: int = 2, seed: int = 1) -> np.ndarray:
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        lo, hi = INPUT_RANGES.get(model.name, (-1.0, 1.0))
        return np.random.default_rng(seed).uniform(lo, hi, (n, *shape)).astype(np.float32)


@pytest.fixture(scope="session")
def zoo():
    return ModelZoo()


@pytest.fixture(scope="session")
def digits():
    """The digits CNN trained once per session, with its data."""
    from qgraph.demo import train_digits_cnn

    model, data = train_digits_cnn(epochs=6)
    return model, data


def rel_err(a, b) -> float:
    """max |a - b| / max |b|, after checking that the reference `b` can tell right from wrong
    (not near zero, not constant, not the same for every sample: `qgraph.testing`)."""
    from qgraph.testing import max_rel_err

    return max_rel_err(a, b)
