"""Support for the file and CLI cases: small model files, each built and saved once per
session in one temporary folder (TensorFlow's import and Keras saves cost seconds), and
steps that prepare a folder or check what a refused action left in it."""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

import numpy as np

#: a custom layer nobody registers with Keras: loading needs custom objects.
CUSTOM_LAYERS = """
import keras


class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0
"""


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="qgraph-files-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def dense_model():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")], name="dense")
    rng = np.random.default_rng(0)
    model.layers[-1].set_weights([rng.normal(size=(4, 3)).astype("float32"), np.full(3, 0.1, "float32")])
    return model


@functools.cache
def dense_keras() -> Path:
    """A Keras 3 `.keras` file of `dense_model()`."""
    path = folder() / "dense.keras"
    dense_model().save(path)
    return path


def samples(n: int = 8, width: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width)).astype("float32")


@functools.cache
def calibration_npy() -> Path:
    path = folder() / "calibration.npy"
    np.save(path, samples(16))
    return path


@functools.cache
def tf_keras_hard_sigmoid() -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A tf-keras model whose `hard_sigmoid` differs from Keras 3's (0.2x + 0.5 clipped vs
    relu6(x + 3) / 6), saved as `.h5` and as tf-keras `.keras`; samples and its own output."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(5, activation="hard_sigmoid")])
    rng = np.random.default_rng(2)
    model.layers[-1].set_weights([rng.normal(size=(6, 5)).astype("float32"), np.zeros(5, "float32")])
    h5, zipped = folder() / "tf_keras_hard_sigmoid.h5", folder() / "tf_keras_hard_sigmoid.keras"
    model.save(h5)
    model.save(zipped)
    x = samples(32, width=6, seed=3)
    return h5, zipped, x, model.predict(x, verbose=0)


@functools.cache
def keras3_hard_sigmoid_h5() -> tuple[Path, np.ndarray, np.ndarray]:
    """The same layer saved by Keras 3 as legacy `.h5`: it must stay Keras 3's hard_sigmoid."""
    import keras

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="hard_sigmoid")])
    rng = np.random.default_rng(2)
    model.layers[-1].set_weights([rng.normal(size=(6, 5)).astype("float32"), np.zeros(5, "float32")])
    path = folder() / "keras3_hard_sigmoid.h5"
    model.save(path)
    x = samples(32, width=6, seed=3)
    return path, x, model.predict(x, verbose=0)


@functools.cache
def lambda_keras() -> Path:
    """A Keras 3 `.keras` with a Python lambda inside: Keras loads it only with safe_mode=False."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0)], name="lam")
    path = folder() / "lambda.keras"
    model.save(path)
    return path


@functools.cache
def custom_layer_file() -> Path:
    path = folder() / "qgraph_test_custom_layers.py"
    path.write_text(CUSTOM_LAYERS)
    return path


@functools.cache
def custom_keras() -> Path:
    """A `.keras` with the unregistered custom layer `Doubler` of `custom_layer_file()`."""
    import keras

    spec = importlib.util.spec_from_file_location("qgraph_test_custom_layers", custom_layer_file())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = keras.Sequential([keras.Input((4,)), module.Doubler()], name="custom")
    path = folder() / "custom.keras"
    model.save(path)
    return path


def doubler_class():
    spec = importlib.util.spec_from_file_location("qgraph_test_custom_layers_api", custom_layer_file())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Doubler


def then(action, *checks):
    """`action`, then `checks` on the folder whatever it did (a refusal must leave things as they were)."""

    def run(tmp: Path):
        try:
            return action(tmp)
        finally:
            for after in checks:
                after(tmp)

    return run


def fifo(name: str, action):
    """`action` with `tmp / name` a FIFO. Opening a FIFO to read blocks until a writer comes:
    a timer opens it for writing after a while, so a reader that regresses fails, not hangs."""

    def unblock(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    def run(tmp: Path):
        os.mkfifo(tmp / name)
        timer = threading.Timer(20.0, unblock, (tmp / name,))
        timer.daemon = True
        timer.start()
        try:
            return action(tmp)
        finally:
            timer.cancel()

    return run


def still_a_fifo(name: str):
    return lambda tmp: holds(stat.S_ISFIFO(os.lstat(tmp / name).st_mode), f"{name} is no longer a FIFO")


def holds(condition: bool, message: str) -> None:
    assert condition, message


def nothing_written(name: str):
    return lambda tmp: holds(not (tmp / name).exists(), f"{name} was written")


def unwritable_folder(tmp: Path) -> Path:
    """A folder the user cannot create files in (root can write anywhere but in /proc)."""
    if os.geteuid() == 0:
        return Path("/proc")
    (tmp / "locked").mkdir()
    os.chmod(tmp / "locked", 0o555)
    return tmp / "locked"
