"""`qgraph.verify(model, tflite, data)`: every layer's output in the .tflite against the
Keras model's, on the same samples, ranked by the error each layer adds.

SQNR, cosine similarity and max absolute error are measured on every tensor that both hold
(`matching`). A layer's SQNR includes the error of everything before it; its `own_db` is
the error it adds itself: the file's output against the layer's Keras computation fed the
file's own values of its inputs (`segments`), so that one bad layer ranks first and the
layers after it, which only carry its error, do not. Where no such piece can be cut out of
the model, `own_db` is estimated: the layer's noise-to-signal ratio less its inputs'. `suggest=N` then compiles the model again with each
likely culprit kept float (`keep_float`) and names the N that recover the most.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qgraph.debugging.capture import accumulate, keras_layers, litert_interpreter
from qgraph.debugging.matching import FileGraph, match_layers
from qgraph.debugging.metrics import ErrorStats, db, top1_agreement
from qgraph.debugging.segments import build_segments


@dataclass
class LayerError:
    layer: str  # the Keras layer
    tensor: str  # the file's tensor that holds its output
    shape: tuple[int, ...]
    dtype: str  # in the file
    sqnr_db: float
    own_db: float  # SQNR of the error this layer adds itself (inf: none)
    cosine: float
    max_abs: float
    inputs: list[str] = field(default_factory=list)  # the matched layers feeding it
    op_tensor: str = ""  # the tensor its op wrote, before a DEQUANTIZE of the model's output
    own_measured: bool = True  # False: own_db estimated (no Keras piece), its noise less its inputs'


@dataclass
class Verification:
    model: str
    file: str
    samples: int
    layers: list[LayerError]  # worst first
    outputs: list[LayerError]  # the model's outputs, in order
    top1_agreement: list[float | None]  # per output: share of samples with the same argmax
    unmatched: list[str]  # layers whose output the file does not hold (folded, fused)
    suggestions: list[Any] = field(default_factory=list)  # `suggest.Suggestion`, best first

    def node_errors(self) -> dict[str, dict]:
        """{file tensor name: figures} for `qgraph.view(..., errors=)` on the .tflite, keyed by
        the tensor each layer's op wrote (so the figures sit on that op, not on a DEQUANTIZE)."""
        return {
            (e.op_tensor or e.tensor): _finite(
                {"sqnr_db": e.sqnr_db, "own_db": e.own_db, "cosine": e.cosine, "max_abs": e.max_abs}
            )
            for e in self.layers
        }

    def to_dict(self) -> dict:
        return _finite(asdict(self))

    def __str__(self) -> str:
        from qgraph.debugging.report import render

        return render(self)


def verify(
    model: Any,
    tflite: str | os.PathLike | bytes,
    data: Any,
    *,
    suggest: int = 0,
    target: str = "cpu",
    representative_data: Any = None,
    safe_mode: bool = True,
    custom_objects: dict | None = None,
) -> Verification:
    """Compare `tflite` (qgraph's or TFLiteConverter's file of `model`) with `model` (a Keras
    model or a .keras/.h5 path) on `data` (an array, or one array per input). `suggest=N`:
    also try the worst layers float in qgraph's int8 compile for `target`, calibrated on
    `representative_data` (default: `data`), and keep the N best (see `suggest`)."""
    from qgraph.debugging.inputs import read_inputs

    keras_model, graph, file_bytes, file_label, samples = read_inputs(
        model, tflite, data, safe_mode=safe_mode, custom_objects=custom_objects
    )
    layers, capture = keras_layers(keras_model)
    names = [layer.name for layer in layers]
    shapes = {layer.name: tuple(-1 if d is None else int(d) for d in layer.output.shape) for layer in layers}
    output_layers = [_producing_layer(keras_model, k, layers) for k in range(len(keras_model.outputs))]
    interp = litert_interpreter(file_bytes)
    input_names = [getattr(t, "name", "") for t in keras_model.inputs]
    fgraph = FileGraph.of(interp, input_names, [n or "" for n in output_layers])
    keras3 = not type(keras_model).__module__.startswith("tf_keras")
    matched = match_layers(fgraph, names, shapes, output_layers, keras_model.name, keras3)
    position = {name: k for k, name in enumerate(names)}
    pairs = {position[name]: tensor for name, tensor in matched.items()}
    finals = [(position[n], t) for n, t in zip(output_layers, fgraph.outputs, strict=False) if n is not None]
    segments = build_segments(keras_model, {layer.name: layer for layer in layers}, matched, fgraph)
    stats, alone, keras_out, file_out = accumulate(
        capture, interp, fgraph, samples, pairs, finals, {position[n]: seg for n, seg in segments.items()}
    )
    by_tensor = {tensor: name for name, tensor in matched.items()}
    details = {d["index"]: d for d in interp.get_tensor_details()}
    results: dict[str, LayerError] = {}
    for name, tensor in matched.items():
        s = stats[position[name]]
        feeding = fgraph.mapped_inputs(tensor, set(by_tensor))
        if name in segments:  # measured: the layer's Keras piece on the file's own inputs to it
            own = alone[position[name]].sqnr_db
        else:  # estimated: its noise less its inputs' (noises of independent roundings add)
            inputs_noise = max(
                (stats[position[by_tensor[t]]].noise_ratio for t in feeding if t in by_tensor), default=0.0
            )
            own = db(s.noise_ratio - inputs_noise)
        results[name] = _layer_error(name, details[tensor], s, own, feeding, by_tensor)
        results[name].op_tensor = fgraph.names[fgraph.computed_by(tensor)]
        # exact too when the layer reads only the model's inputs (no error before it): the input's QUANTIZE
        results[name].own_measured = name in segments or not any(t in by_tensor for t in feeding)
    ranked = sorted(results.values(), key=lambda e: (e.own_db, e.sqnr_db))
    outputs = [results[n] for n in output_layers if n in results]
    agreement = [top1_agreement(k, f) for k, f in zip(keras_out, file_out, strict=False)]
    label = model if isinstance(model, str | os.PathLike) else f"Keras model {keras_model.name!r}"
    unmatched = [layer.name for layer in keras_model.layers if layer.name not in matched]
    result = Verification(
        os.fspath(label), file_label, len(samples[0]), ranked, outputs, agreement, unmatched
    )
    if suggest:
        from qgraph.debugging.suggest import suggest_float_layers

        result.suggestions = suggest_float_layers(
            keras_model,
            graph,
            samples,
            ranked,
            suggest,
            target,
            representative_data,
            names=(input_names, [n or "" for n in output_layers]),
        )
    return result


def _layer_error(
    name: str, detail: dict, s: ErrorStats, own: float, feeding: set, by_tensor: dict
) -> LayerError:
    return LayerError(
        name, detail["name"], tuple(int(d) for d in detail["shape_signature"]), np.dtype(detail["dtype"]).name,
        s.sqnr_db, own, s.cosine, s.max_abs, sorted(by_tensor[t] for t in feeding if t in by_tensor),
    )  # fmt: skip


def _producing_layer(model: Any, k: int, layers: list[Any]) -> str | None:
    """The layer among `layers` whose output is the model's k-th output."""
    out = model.outputs[k]
    return next((layer.name for layer in layers if layer.output is out), None)


def _finite(value: Any) -> Any:
    """JSON has no inf: an exact tensor's SQNR is written as null."""
    if isinstance(value, float):
        return None if math.isinf(value) or math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
