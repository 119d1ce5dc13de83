"""Run a Keras model and a .tflite on the same samples, once, and accumulate per matched
tensor the error statistics (`metrics.ErrorStats`): every layer's output in one Keras call
per batch, every tensor of the file in one LiteRT invoke per batch (all tensors kept)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from qgraph.debugging.metrics import ErrorStats
from qgraph.testing import to_file_dtype

BATCH = 32


def keras_layers(model: Any) -> tuple[list[Any], Any]:
    """(layers with one output tensor, in model order; a model returning all their outputs).
    A nested model's `output` belongs to its own graph, not to the outer one: where the outer
    model cannot return it, nested models are left out (verify lists them as not matched)."""
    from qgraph.errors import OptionError

    keras = keras_of(model)
    kept = [layer for layer in model.layers if _single_output(layer) is not None]
    for attempt in (kept, [layer for layer in kept if not hasattr(layer, "layers")]):
        try:
            return attempt, keras.Model(model.inputs, [layer.output for layer in attempt])
        except ValueError:  # "Output ... is not connected to inputs"
            continue
    raise OptionError(
        f"verify cannot read the layer outputs of model {model.name!r} ({type(model).__name__}): "
        "Keras will not return them from the model's inputs"
    )


def _single_output(layer: Any) -> Any:
    try:
        out = layer.output
    except (AttributeError, ValueError):  # a layer called several times has no one output
        return None
    return None if isinstance(out, list | tuple | dict) else out


def keras_of(model: Any) -> Any:
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras

        return tf_keras
    import keras

    return keras


def litert_interpreter(tflite: bytes, keep_all: bool = True) -> Any:
    """An interpreter with LiteRT's built-in kernels and no delegate: XNNPACK would run the
    graph in partitions whose inner tensors are never written, so reading them after an invoke
    (`keep_all`: every tensor kept) would give stale values, not the layer's output."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with warnings.catch_warnings():  # "intended for debugging purposes only": that is this use
        warnings.simplefilter("ignore", UserWarning)
        return Interpreter(
            model_content=tflite,
            experimental_preserve_all_tensors=keep_all,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )


def accumulate(
    capture: Any,
    interp: Any,
    fgraph: Any,
    samples: list[np.ndarray],
    pairs: dict[int, int],
    finals: list[tuple[int, int]],
    segments: dict,
) -> tuple[dict[int, ErrorStats], dict[int, ErrorStats], list[np.ndarray], list[np.ndarray]]:
    """Run both on `samples` (one array per input). `pairs` maps a position among the capture
    model's outputs to a file tensor; `finals` pair the positions of the model's own outputs with their file tensors;
    `segments` ({position: Segment}) recompute a tensor from the file's values of its inputs;
    `fgraph` (`matching.FileGraph`) gives the file's inputs and outputs in the model's order.
    `fgraph` (`matching.FileGraph`) gives the file's inputs and outputs in the model's order.
    Returns ({position: error so far}, {position: error of the layer alone}, Keras final
    outputs, file final outputs), the outputs concatenated over the samples."""
    stats = {position: ErrorStats() for position in pairs}
    own = {position: ErrorStats() for position in segments}
    params = {d["index"]: d["quantization_parameters"] for d in interp.get_tensor_details()}
    keras_finals: list[list[np.ndarray]] = []
    file_finals: list[list[np.ndarray]] = []
    for batch in _batches(interp, samples, fgraph.inputs):
        values = capture(batch, training=False)  # a list, as the model's inputs are
        values = [np.asarray(v) for v in (values if isinstance(values, list | tuple) else [values])]
        held = {tensor: _read(interp, tensor, params[tensor]) for tensor in pairs.values()}
        for position, tensor in pairs.items():
            stats[position].add(held[tensor], values[position])
        for position, segment in segments.items():
            fed = [held[t] if t in held else _read(interp, t, params[t]) for t in segment.sources]
            alone = np.asarray(segment.model(fed, training=False))
            own[position].add(held[pairs[position]], alone)
        keras_finals.append([values[k] for k, _ in finals])
        file_finals.append([_read(interp, t, params[t]) for _, t in finals])
    return stats, own, _join(keras_finals), _join(file_finals)


def _join(batches: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate(parts) for parts in zip(*batches, strict=True)]


def _batches(interp: Any, samples: list[np.ndarray], tensors: list[int]) -> Iterator[list[np.ndarray]]:
    """Batches of up to BATCH samples, each fed to its file input (`tensors`, in the samples'
    order; quantized for int8 inputs), invoked. A file of fixed batch (LiteRT refuses to resize
    it) runs one sample at a time."""
    by_index = {d["index"]: d for d in interp.get_input_details()}
    inputs = [by_index[t] for t in tensors]
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
            interp.set_tensor(d["index"], to_file_dtype(x, d))
        interp.invoke()
        yield batch


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


def run_file(
    tflite: bytes, samples: list[np.ndarray], input_names: list[str], output_names: list[str]
) -> list[np.ndarray]:
    """The file's outputs (real values) on `samples`, batch by batch, inputs and outputs in the
    model's order (its inputs' and output layers' names, as `matching.FileGraph.of` takes)."""
    from qgraph.debugging.matching import FileGraph

    interp = litert_interpreter(tflite, keep_all=False)  # the kernels verify measured
    graph = FileGraph.of(interp, input_names, output_names)
    params = {d["index"]: d["quantization_parameters"] for d in interp.get_tensor_details()}
    return _join(
        [
            [_read(interp, t, params[t]) for t in graph.outputs]
            for _ in _batches(interp, samples, graph.inputs)
        ]
    )


def run_keras(model: Any, samples: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs on `samples`, in the batches `run_file` uses."""
    keras = keras_of(model)
    flat = keras.Model(model.inputs, model.outputs)  # takes a list of inputs, as `samples` is
    parts = []
    for start in range(0, len(samples[0]), BATCH):
        out = flat([x[start : start + BATCH] for x in samples], training=False)
        parts.append([np.asarray(v) for v in (out if isinstance(out, list | tuple) else [out])])
    return _join(parts)
