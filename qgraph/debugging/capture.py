"""Run a Keras model and a .tflite on the same samples, once, and accumulate per matched
tensor the error statistics (`metrics.ErrorStats`): every layer's output in one Keras call
per batch, every tensor of the file in one LiteRT invoke per batch (all tensors kept)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from qgraph.debugging.metrics import ErrorStats

BATCH = 32


def keras_layers(model: Any) -> tuple[list[Any], Any]:
    """(layers with one output tensor, in model order; a model returning all their outputs)."""
    kept, outputs = [], []
    for layer in model.layers:
        try:
            out = layer.output
        except (AttributeError, ValueError):  # a layer called several times has no one output
            continue
        if isinstance(out, list | tuple | dict):
            continue
        kept.append(layer)
        outputs.append(out)
    keras = _keras_of(model)
    return kept, keras.Model(model.inputs, outputs)


def _keras_of(model: Any) -> Any:
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras

        return tf_keras
    import keras

    return keras


def litert_interpreter(tflite: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():  # "intended for debugging purposes only": that is this use
        warnings.simplefilter("ignore", UserWarning)
        return Interpreter(model_content=tflite, experimental_preserve_all_tensors=True)


def accumulate(
    capture: Any, interp: Any, samples: list[np.ndarray], pairs: dict[int, int], finals: list[int]
) -> tuple[dict[int, ErrorStats], list[np.ndarray], list[np.ndarray]]:
    """Run both on `samples` (one array per input). `pairs` maps a position among the capture
    model's outputs to a file tensor; `finals` are the positions of the model's own outputs.
    Returns ({position: stats}, Keras final outputs, file final outputs), each concatenated
    over the samples (the finals for top-1 agreement)."""
    stats = {position: ErrorStats() for position in pairs}
    params = {d["index"]: d["quantization_parameters"] for d in interp.get_tensor_details()}
    keras_finals: list[list[np.ndarray]] = []
    file_finals: list[list[np.ndarray]] = []
    for batch, run in _batches(interp, samples):
        values = capture(batch, training=False)  # a list, as the model's inputs are
        values = [np.asarray(v) for v in (values if isinstance(values, list | tuple) else [values])]
        for position, tensor in pairs.items():
            stats[position].add(_read(interp, tensor, params[tensor]), values[position])
        keras_finals.append([values[k] for k in finals])
        file_finals.append([_read(interp, d["index"], params[d["index"]]) for d in run])
    return stats, _join(keras_finals), _join(file_finals)


def _join(batches: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate(parts) for parts in zip(*batches, strict=True)]


def _batches(interp: Any, samples: list[np.ndarray]) -> Iterator[tuple[list[np.ndarray], list[dict]]]:
    """Batches of up to BATCH samples, fed to the file (quantized for int8 inputs), invoked.
    A file of fixed batch (LiteRT refuses to resize it) runs one sample at a time."""
    inputs = interp.get_input_details()
    size = BATCH
    try:
        for d, x in zip(inputs, samples, strict=True):
            interp.resize_tensor_input(d["index"], (size, *x.shape[1:]), strict=True)
        interp.allocate_tensors()
    except (RuntimeError, ValueError):
        size = 1
        for d, x in zip(inputs, samples, strict=True):
            interp.resize_tensor_input(d["index"], (1, *x.shape[1:]))
        interp.allocate_tensors()
    count = len(samples[0])
    for start in range(0, count, size):
        batch = [x[start : start + size] for x in samples]
        if len(batch[0]) < size:  # the last, short batch: the file's shape follows it
            for d, x in zip(inputs, batch, strict=True):
                interp.resize_tensor_input(d["index"], x.shape, strict=size > 1)
            interp.allocate_tensors()
        for d, x in zip(inputs, batch, strict=True):
            interp.set_tensor(d["index"], _to_file(x, d))
        interp.invoke()
        yield batch, interp.get_output_details()


def _to_file(x: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] in (np.int8, np.uint8, np.int16):
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
    return x.astype(detail["dtype"])


def _read(interp: Any, tensor: int, q: dict) -> np.ndarray:
    """The tensor's real values (integer tensors dequantized with their own parameters `q`)."""
    value = interp.get_tensor(tensor)
    if value.dtype.kind not in "iu" or not len(q["scales"]):
        return value.astype(np.float32)
    scales, zeros = q["scales"], q["zero_points"]
    if len(scales) > 1:  # per-axis
        shape = [1] * value.ndim
        shape[q["quantized_dimension"]] = -1
        scales, zeros = scales.reshape(shape), zeros.reshape(shape)
    return ((value.astype(np.float32) - zeros) * scales).astype(np.float32)


def run_file(tflite: bytes, samples: list[np.ndarray]) -> list[np.ndarray]:
    """The file's outputs (real values) on `samples`, batch by batch."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    params = {d["index"]: d["quantization_parameters"] for d in interp.get_tensor_details()}
    return _join(
        [[_read(interp, d["index"], params[d["index"]]) for d in run] for _, run in _batches(interp, samples)]
    )


def run_keras(model: Any, samples: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs on `samples`, in the batches `run_file` uses."""
    parts = []
    for start in range(0, len(samples[0]), BATCH):
        batch = [x[start : start + BATCH] for x in samples]
        out = model(batch, training=False)
        parts.append([np.asarray(v) for v in (out if isinstance(out, list | tuple) else [out])])
    return _join(parts)
