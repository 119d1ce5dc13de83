"""Numeric comparisons that can fail: what every test and benchmark that compares qgraph's
output with Keras (or with TFLiteConverter's) goes through.

A `weights=None` model has BatchNormalization statistics mean 0 / variance 1: activations
shrink layer after layer, a deep net outputs ~1e-11, and any comparison passes. So:

- `realistic_statistics(model, samples)` sets every BatchNormalization's moving mean and
  variance (nested models included) to the batch statistics of `samples`, the way training
  would, before any comparison;
- `assert_informative(reference)` fails a comparison whose reference output is near zero,
  constant, or the same for every sample: such a comparison means nothing.

    >>> realistic_statistics(model, calibration)
    >>> y = model.predict(test); assert_informative(y)
    >>> assert max_rel_err(run_litert(qgraph.compile(model).tflite, test), y) < 1e-4
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer of `model`, nested models' layers included."""
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def realistic_statistics(model: Any, samples: np.ndarray) -> Any:
    """Set every BatchNormalization's moving statistics to the batch statistics of `samples`.

    One training-mode call with momentum 0: each BatchNormalization normalizes with, and
    stores, the statistics of its own input, whose upstream layers already use theirs, so
    inference on `samples` then reproduces the training-mode activations. Dropout is
    switched off for that call so the statistics are inference's."""
    norms = [layer for layer in all_layers(model) if type(layer).__name__ == "BatchNormalization"]
    drops = [
        layer for layer in all_layers(model) if hasattr(layer, "rate") and "Dropout" in type(layer).__name__
    ]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in drops]
    try:
        for n in norms:
            n.momentum = 0.0
        for d in drops:
            d.rate = 0.0
        model(samples, training=True)
    finally:
        for n, m in zip(norms, momenta, strict=True):
            n.momentum = m
        for d, r in zip(drops, rates, strict=True):
            d.rate = r
    return model


def assert_informative(reference: Any, what: str = "reference output") -> None:
    """Fail when `reference` (batch first) cannot tell a right result from a wrong one."""
    ref = np.asarray(reference, np.float64)
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    if not np.isfinite(ref).all():
        raise AssertionError(f"{what} has non-finite values")
    if scale < 1e-6:
        raise AssertionError(
            f"{what} is near zero (max |y| = {scale:.3g}): the comparison would mean nothing"
        )
    if float(np.ptp(ref)) < 1e-4 * scale:
        raise AssertionError(
            f"{what} is constant ({scale:.3g} everywhere): the comparison would mean nothing"
        )
    if ref.ndim > 1 and ref.shape[0] > 1 and float(ref.std(axis=0).max()) < 1e-4 * scale:
        raise AssertionError(f"{what} is the same for every sample: the model ignores its input")


def max_rel_err(actual: Any, reference: Any) -> float:
    """max |actual - reference| / max |reference| (after `assert_informative(reference)`)."""
    a, b = np.asarray(actual, np.float64), np.asarray(reference, np.float64)
    assert_informative(b)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs reference {b.shape}")
    return float(np.abs(a - b).max() / np.abs(b).max())


def sqnr_db(actual: Any, reference: Any) -> float:
    """Signal-to-quantization-noise ratio of `actual` against `reference`, in dB."""
    from qgraph.quant.numerics import sqnr_db as sqnr

    assert_informative(reference)
    return float(sqnr(np.asarray(reference), np.asarray(actual)))


def run_litert(tflite: bytes, *inputs: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """Run a `.tflite` in LiteRT sample by sample (batch 1, as written), quantizing int8/uint8
    inputs and dequantizing outputs with the file's own parameters; several inputs are
    matched by order, several outputs are returned as a list."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite))
    interp.allocate_tensors()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    if len(ins) != len(inputs):
        raise ValueError(f"the file has {len(ins)} inputs, {len(inputs)} were given")
    results: list[list[np.ndarray]] = [[] for _ in outs]
    for i in range(len(inputs[0])):
        for detail, x in zip(ins, inputs, strict=True):
            interp.set_tensor(detail["index"], to_file_dtype(np.asarray(x[i : i + 1]), detail))
        interp.invoke()
        for k, detail in enumerate(outs):
            results[k].append(_from_file_dtype(interp.get_tensor(detail["index"]), detail))
    stacked = [np.concatenate(r) for r in results]
    return stacked[0] if len(stacked) == 1 else stacked


def run_signature(tflite: bytes, model: Any, *inputs: np.ndarray) -> np.ndarray:
    """Run a file through its serving signature with inputs given by `model.inputs`' names
    (a converter file's input order is its own), sample by sample; the first output."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=bytes(tflite)).get_signature_runner("serving_default")
    names = [t.name for t in model.inputs]
    outs = [
        runner(**{k: x[i : i + 1] for k, x in zip(names, inputs, strict=True)}) for i in range(len(inputs[0]))
    ]
    return np.concatenate([next(iter(o.values())) for o in outs])


def to_file_dtype(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float samples as a LiteRT input of `detail` (`get_input_details()`) takes them:
    quantized with its scale and zero point if it is an integer input that has them."""
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if dtype in (np.int8, np.uint8, np.int16) and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _from_file_dtype(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8, np.int16) and scale:
        return (y.astype(np.float32) - zero) * scale
    return y


def converter_int8(model: Any, samples: np.ndarray | list[np.ndarray]) -> bytes:
    """TFLiteConverter's full-int8 file (float I/O) for `model`, calibrated on `samples`."""
    import tensorflow as tf

    many = isinstance(samples, list | tuple)
    n = len(samples[0]) if many else len(samples)

    names = [t.name for t in model.inputs]

    def representative():  # by name: the converter orders a multi-input file's inputs its own way
        for i in range(n):
            yield (
                {k: s[i : i + 1] for k, s in zip(names, samples, strict=True)}
                if many
                else [samples[i : i + 1]]
            )

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return conv.convert()


def converter_float(model: Any) -> bytes:
    """TFLiteConverter's float32 file for `model`."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return conv.convert()


# ---- keras.applications: one comparison for the CI family tests and bench/zoo.py ---------------
#: the smallest input each architecture accepts (or a small size that keeps its shape sane).
APPLICATION_SIZES = {"Inception": 96, "Xception": 96, "NASNet": 96, "": 96}
#: architectures whose preprocessing is inside the model and expects [0, 255] pixels.
_PIXEL_SCALE = ("EfficientNet", "ConvNeXt", "RegNet")


def application_model(
    name: str, size: int | None = None, seed: int = 0
) -> tuple[Any, np.ndarray, np.ndarray]:
    """`keras.applications.<name>` (weights=None, 10 logits) with realistic BatchNorm
    statistics, plus 20 calibration and 8 held-out samples (different seeds)."""
    import keras

    if size is None:
        size = next(s for prefix, s in APPLICATION_SIZES.items() if name.startswith(prefix) or not prefix)
    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), include_top=True, classes=10, classifier_activation=None
    )
    scale = 255.0 if name.startswith(_PIXEL_SCALE) else 1.0
    rng = np.random.default_rng(seed)
    calibration = (rng.uniform(0, 1, (20, size, size, 3)) * scale).astype(np.float32)
    held_out = (rng.uniform(0, 1, (8, size, size, 3)) * scale).astype(np.float32)
    realistic_statistics(model, calibration)
    return model, calibration, held_out
