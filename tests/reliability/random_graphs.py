"""A seeded generator of small random Keras functional models for the property test
(tests/reliability/test_random_graphs.py): convolutions, depthwise convolutions, dense layers,
pools, BatchNormalization, activations, Add and Concatenate joining earlier tensors, with random
shapes, filters, kernel sizes, strides, dilations and padding; random biases and BatchNorm
statistics taken from data (never mean 0 / variance 1). `describe(model)` says what was drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTIVATIONS = ("linear", "relu", "relu6", "tanh", "sigmoid", "swish", "hard_sigmoid")
BLOCKS = ("conv", "conv", "depthwise", "pool", "batchnorm", "activation", "add", "concat", "dense")


def random_model(seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """(model, 32 calibration samples, 16 held-out samples) for `seed`."""
    import keras

    from qgraph.testing import realistic_statistics

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    shape = (int(rng.integers(5, 11)), int(rng.integers(5, 11)), int(rng.integers(1, 5)))
    x = keras.Input(shape, name="x")
    y, earlier = x, [x]
    for _ in range(int(rng.integers(2, 7))):
        y = _block(rng, str(rng.choice(BLOCKS)), y, earlier)
        earlier.append(y)
    head = str(rng.choice(("gap", "flatten", "none")))
    if head != "none":
        pooled = (keras.layers.GlobalAveragePooling2D() if head == "gap" else keras.layers.Flatten())(y)
        # Not relu or relu6: a head that outputs zero for every sample tells nothing.
        head_act = str(rng.choice(("linear", "tanh", "sigmoid", "swish")))
        y = keras.layers.Dense(int(rng.integers(2, 9)), activation=head_act)(pooled)
    model = keras.Model(x, y, name=f"random_{seed}")
    _randomize_weights(model, rng)
    calibration = rng.normal(size=(32, *shape)).astype(np.float32)
    held_out = np.random.default_rng(seed + 10_000).normal(size=(16, *shape)).astype(np.float32)
    realistic_statistics(model, calibration)
    return model, calibration, held_out


def describe(model: Any) -> str:
    """One line per layer: class, output shape and the options the generator drew."""
    keys = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "depth_multiplier", "pool_size")
    lines = []
    for layer in model.layers[1:]:
        cfg = layer.get_config()
        opts = {k: cfg[k] for k in (*keys, "activation", "units") if k in cfg}
        lines.append(f"{type(layer).__name__} {tuple(layer.output.shape)} {opts}")
    return "\n".join(lines)


def _act(rng: np.random.Generator) -> str:
    return str(rng.choice(ACTIVATIONS))


def _window(rng: np.random.Generator, h: int, w: int) -> dict[str, Any]:
    """Kernel, strides, dilation and padding that fit an h x w input."""
    padding = str(rng.choice(("same", "valid")))
    kernel = int(rng.integers(1, 4))
    stride = int(rng.choice((1, 2))) if min(h, w) >= 4 else 1
    dilation = 2 if stride == 1 and kernel > 1 and rng.random() < 0.2 else 1
    if padding == "valid" and (kernel - 1) * dilation + 1 > min(h, w):
        padding = "same"
    return {"kernel_size": kernel, "strides": stride, "dilation_rate": dilation, "padding": padding}


def _block(rng: np.random.Generator, kind: str, y: Any, earlier: list[Any]) -> Any:
    import keras

    _, h, w, c = y.shape
    if kind == "conv":
        return keras.layers.Conv2D(
            int(rng.integers(2, 9)),
            **_window(rng, h, w),
            activation=_act(rng),
            use_bias=bool(rng.random() < 0.8),
        )(y)
    if kind == "depthwise":
        return keras.layers.DepthwiseConv2D(
            **_window(rng, h, w), depth_multiplier=int(rng.choice((1, 2))), activation=_act(rng)
        )(y)
    if kind == "pool":
        size = int(rng.choice((2, 3))) if min(h, w) >= 3 else 2 if min(h, w) >= 2 else 1
        cls = rng.choice((keras.layers.MaxPooling2D, keras.layers.AveragePooling2D))
        return cls(size, strides=int(rng.choice((1, 2))), padding=str(rng.choice(("same", "valid"))))(y)
    if kind == "batchnorm":
        return keras.layers.BatchNormalization()(y)
    if kind == "activation":
        choice = int(rng.integers(3))
        if choice == 0:
            return keras.layers.ReLU(max_value=6.0)(y)
        if choice == 1:
            return keras.layers.LeakyReLU(negative_slope=float(rng.uniform(0.05, 0.3)))(y)
        return keras.layers.Activation(_act(rng))(y)
    if kind == "dense":  # on the channel axis of a 4-D tensor
        return keras.layers.Dense(int(rng.integers(2, 9)), activation=_act(rng))(y)
    same_size = [t for t in earlier[:-1] if tuple(t.shape[1:3]) == (h, w) and t is not y]
    if kind == "add":
        partners = [t for t in same_size if t.shape[3] == c]
        other = partners[int(rng.integers(len(partners)))] if partners else _branch(rng, y, c)
        return keras.layers.Add()([y, other])
    other = (
        same_size[int(rng.integers(len(same_size)))]
        if same_size
        else _branch(rng, y, int(rng.integers(1, 6)))
    )
    return keras.layers.Concatenate()([y, other])


def _branch(rng: np.random.Generator, y: Any, filters: int) -> Any:
    """A second path from `y` with the same height and width, to join back."""
    import keras

    return keras.layers.Conv2D(filters, int(rng.integers(1, 4)), padding="same", activation=_act(rng))(y)


def _randomize_weights(model: Any, rng: np.random.Generator) -> None:
    """Non-zero biases and BatchNorm scales/offsets (the statistics come from data)."""
    for layer in model.layers:
        values = []
        for v in layer.weights:
            name = v.path.split("/")[-1]
            if name == "bias":
                values.append(rng.normal(0, 0.2, v.shape).astype(np.float32))
            elif name == "gamma":
                values.append(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
            elif name == "beta":
                values.append(rng.normal(0, 0.2, v.shape).astype(np.float32))
            else:
                values.append(np.asarray(v.numpy()))
        if values:
            layer.set_weights(values)
