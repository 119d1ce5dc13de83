"""`qgraph demo`: the digits CNN from scikit-learn's bundled data, end to end.

Also the tests' shared fixture model: `digits_data()` and `digits_cnn()`.
"""

from __future__ import annotations

import os
import time

import numpy as np


def digits_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (shipped inside the package, no download): x in [0, 16]
    as (N, 8, 8, 1) float32, y as int labels; a fixed 75/25 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)[..., None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(0.75 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def digits_cnn(concat: bool = True, name: str = "digits_cnn", keras_module=None):
    """A small CNN with the patterns quantization cares about: Rescaling, BN, ReLU6,
    a depthwise conv, a 2-input concat (optional), pooling, dropout and a softmax head.
    `keras_module` builds it with another Keras (e.g. `tf_keras`, for tfmot comparisons)."""
    import keras as keras3

    keras = keras_module or keras3
    layers = keras.layers

    inp = keras.Input((8, 8, 1), name="image")
    x = layers.Rescaling(1.0 / 16.0, name="rescale")(inp)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    a = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    a = layers.BatchNormalization(momentum=0.9, name="dw_bn")(a)
    a = layers.ReLU(6.0, name="dw_relu6")(a)
    a = layers.Conv2D(16, 1, name="dw_project")(a)
    if concat:
        b = layers.Conv2D(16, 1, activation="relu", name="side")(x)
        a = layers.Concatenate(name="concat")([a, b])
    x = layers.MaxPooling2D(2, name="pool")(a)
    x = layers.Conv2D(32, 3, padding="same", name="head_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=name)


def train_digits_cnn(epochs: int = 8, concat: bool = True, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = digits_data(seed)
    model = digits_cnn(concat)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return model, (x_train, y_train, x_test, y_test)


def run_tflite(tflite: bytes, x: np.ndarray, batch: int = 1) -> np.ndarray:
    """Run `x` through a .tflite in LiteRT, one sample at a time (the file's batch is 1)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for k in range(0, len(x), batch):
        interp.set_tensor(inp["index"], x[k : k + batch].astype(inp["dtype"]))
        interp.invoke()
        results.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(results)


#: what the demo writes: every target, in each mode it runs.
DEMO_BUILDS = (
    ("cpu", "float"),
    ("cpu", "int8"),
    ("cpu", "dynamic"),
    ("cpu", "float16"),
    ("edgetpu", "int8"),
    ("nnapi", "float"),
    ("nnapi", "int8"),
    ("ethos-u", "int8"),
)


def accuracy_in_litert(tflite: bytes, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, str]:
    """(accuracy, probabilities, I/O dtype) of a classifier file in LiteRT, for any I/O
    type (int8/uint8 I/O is quantized and dequantized with the file's own parameters)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    probs = []
    for k in range(len(x)):
        sample = x[k : k + 1]
        if inp["dtype"] != np.float32:
            info = np.iinfo(inp["dtype"])
            sample = np.clip(np.round(sample / s_in + z_in), info.min, info.max)
        interp.set_tensor(inp["index"], sample.astype(inp["dtype"]))
        interp.invoke()
        raw = interp.get_tensor(out["index"]).astype(np.float32)
        probs.append(raw if out["dtype"] == np.float32 else (raw - z_out) * s_out)
    p = np.concatenate(probs)
    return float(np.mean(p.argmax(1) == y)), p, np.dtype(inp["dtype"]).name


def run_demo(epochs: int = 8, out_dir: str = "qgraph-demo") -> int:
    import qgraph

    t0 = time.perf_counter()
    print(f"1. training the digits CNN on scikit-learn's bundled digits ({epochs} epochs) ...")
    model, (x_train, y_train, x_test, y_test) = train_digits_cnn(epochs)
    keras_probs = model.predict(x_test, verbose=0)
    keras_acc = float(np.mean(keras_probs.argmax(1) == y_test))
    print(
        f"   Keras accuracy on {len(x_test)} held-out digits: {keras_acc:.2%} ({time.perf_counter() - t0:.1f} s)\n"
    )

    graph = qgraph.load(model)
    print("2. the IR qgraph lowered it to:")
    print(graph.dump(), end="")
    os.makedirs(out_dir, exist_ok=True)
    calibration = x_train[:100]
    rows = []
    vela_lines: list[str] = []
    for target, mode in DEMO_BUILDS:
        path = os.path.join(out_dir, f"digits_{target}_{mode}.tflite")
        data = calibration if mode == "int8" else None
        start = time.perf_counter()
        result = qgraph.compile(graph, target=target, quantize=mode, representative_data=data, output=path)
        seconds = time.perf_counter() - start
        if (target, mode) == ("cpu", "int8"):
            print("\n3. what the passes did (target cpu, int8, calibrated on 100 training digits):")
            print(result.report)
        if target == "ethos-u":
            vela_lines = result.report.placement
        acc, probs, io = accuracy_in_litert(result.tflite, x_test, y_test)
        err = float(np.abs(probs - keras_probs).max())
        rows.append(
            (
                target,
                mode,
                io,
                f"{len(result.tflite):,}",
                f"{seconds * 1000:.0f} ms",
                f"{acc:.2%}",
                f"{err:.1e}",
                path,
            )
        )
    print(
        "\n4. quantization-aware training: 2 epochs of fine-tuning at lr 1e-4, then int8 from the learned ranges"
    )
    import keras

    start = time.perf_counter()
    qat = qgraph.quantize_model(model, representative_data=calibration)
    qat.compile(
        optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    qat.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
    path = os.path.join(out_dir, "digits_cpu_int8_qat.tflite")
    result = qgraph.compile(qat, target="cpu", output=path)
    acc, probs, io = accuracy_in_litert(result.tflite, x_test, y_test)
    agree = float(np.mean(probs.argmax(1) == qat.predict(x_test, verbose=0).argmax(1)))
    rows.append(
        (
            "cpu",
            "int8 QAT",
            io,
            f"{len(result.tflite):,}",
            f"{(time.perf_counter() - start):.1f} s",
            f"{acc:.2%}",
            f"{float(np.abs(probs - keras_probs).max()):.1e}",
            path,
        )
    )
    print(f"   LiteRT int8 agrees with the QAT Keras model on {agree:.2%} of the held-out digits")
    print("\n5. every written file loaded and run in LiteRT on the held-out digits:")
    header = ("target", "mode", "I/O", "bytes", "time", "accuracy", "max |p-float|", "file")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print("\n6. Arm Ethos-U55-128 (the ethos-u target): " + "\n   ".join(vela_lines))
    print(f"\nKeras float accuracy {keras_acc:.2%}; done in {time.perf_counter() - t0:.1f} s")
    return 0
