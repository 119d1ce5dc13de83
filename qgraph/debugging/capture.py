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
    keras = keras_of(model)
    return kept, keras.Model(model.inputs, outputs)


def keras_of(model: Any) -> Any:
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
    capture: Any,
    interp: Any,
    samples: list[np.ndarray],
    pairs: dict[int, int],
    finals: list[int],
    segments: dict,
) -> tuple[dict[int, ErrorStats], dict[int, ErrorStats], list[np.ndarray], list[np.ndarray]]:
    """Run both on `samples` (one array per input). `pairs` maps a position among the capture
    model's outputs to a file tensor; `finals` are the positions of the model's own outputs;
    `segments` ({position: Segment}) recompute a tensor from the file's values of its inputs.
    Returns ({position: error so far}, {position: error of the layer alone}, Keras final
    outputs, file final outputs), the outputs concatenated over the samples."""
    stats = {position: ErrorStats() for position in pairs}
    own = {position: ErrorStats() for position in segments}
    params = {d["index"]: d["quantization_parameters"] for d in interp.get_tensor_details()}
    keras_finals: list[list[np.ndarray]] = []
    file_finals: list[list[np.ndarray]] = []
    for batch, run in _batches(interp, samples):
        values = capture(batch, training=False)  # a list, as the model's inputs are
        values = [np.asarray(v) for v in (values if isinstance(values, list | tuple) else [values])]
        held = {tensor: _read(interp, tensor, params[tensor]) for tensor in pairs.values()}
        for position, tensor in pairs.items():
            stats[position].add(held[tensor], values[position])
        for position, segment in segments.items():
            fed = [held[t] if t in held else _read(interp, t, params[t]) for t in segment.sources]
            alone = np.asarray(segment.model(fed, training=False))
            own[position].add(held[pairs[position]], alone)
        keras_finals.append([values[k] for k in finals])
        file_finals.append([_read(interp, d["index"], params[d["index"]]) for d in run])
    return stats, own, _join(keras_finals), _join(file_finals)


def _join(batches: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate(parts) for parts in zip(*batches, strict=True)]


def _batches(interp: Any, samples: list[np.ndarray]) -> Iterator[tuple[list[np.ndarray], list[dict]]]:
    """Batches of up to BATCH samples, fed to the file (quantized for int8 inputs), invoked.
    A file of fixed batch (LiteRT refuses to resize it) runs one sample at a time."""
    inputs = interp.get_input_details()
    size = BATCH
    try:
        _resize(interp, inputs, [(size, *x.shape[1:]) for x in samples], strict=True)
    except (RuntimeError, ValueError):
        size = 1
        _resize(interp, inputs, [(1, *x.shape[1:]) for x in samples], strict=False)
    count = len(samples[0])
    for start in range(0, count, size):
        batch = [x[start : start + size] for x in samples]
        if len(batch[0]) < size:  # the last, short batch: the file's shape follows it
            _resize(interp, inputs, [x.shape for x in batch], strict=True)
        for d, x in zip(inputs, batch, strict=True):
            interp.set_tensor(d["index"], _to_file(x, d))
        interp.invoke()
        yield batch, interp.get_output_details()


def _resize(interp: Any, inputs: list[dict], shapes: list[tuple], strict: bool) -> None:
    """Give the inputs these shapes; batch 1 in a file of fixed batch is the file's own."""
    for d, shape in zip(inputs, shapes, strict=True):
        interp.resize_tensor_input(d["index"], shape, strict=strict)
    try:
        interp.allocate_tensors()
    except RuntimeError as e:
        if strict:
            raise
        from qgraph.errors import ModelFileError

        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"LiteRT cannot run the .tflite: {first}") from None


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
