"""The Keras computation behind each matched tensor of the file, from the matched tensors
that feed it: fed the file's own values of those inputs, it gives what the layer would
output without its own rounding, so its error is the layer's alone (as the converter's
QuantizationDebugger compares each op with its float op on the same, dequantized inputs).

`keras.Model(inputs=[intermediate tensors], outputs=tensor)` cuts that piece out of the
model (Keras 3 and tf-keras alike). Where it cannot (a piece that also reads a tensor the
file does not hold), the layer has no segment, and verify estimates its own error instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Segment:
    model: Any  # the Keras piece: sources -> the layer's output
    sources: list[int]  # the file tensors it reads, in its input order


def build_segments(
    keras_model: Any, layers: dict[str, Any], matched: dict[str, int], fgraph: Any
) -> dict[str, Segment]:
    """{layer: Segment} for the matched layers (not model inputs) whose piece can be cut out."""
    from qgraph.debugging.capture import keras_of

    keras = keras_of(keras_model)
    by_tensor = {tensor: name for name, tensor in matched.items()}
    segments: dict[str, Segment] = {}
    for name, tensor in matched.items():
        if tensor in fgraph.inputs or type(layers[name]).__name__ == "InputLayer":
            continue
        sources = sorted(fgraph.mapped_inputs(tensor, set(by_tensor)))
        inputs = [_keras_tensor(t, by_tensor, layers, keras_model, fgraph) for t in sources]
        if not sources or any(i is None for i in inputs):
            continue
        try:
            piece = keras.Model(inputs, layers[name].output)
        except (ValueError, TypeError, KeyError, AttributeError):  # not a closed piece of the graph
            continue
        segments[name] = Segment(piece, sources)
    return segments


def _keras_tensor(tensor: int, by_tensor: dict, layers: dict, keras_model: Any, fgraph: Any) -> Any:
    if tensor in by_tensor:
        return layers[by_tensor[tensor]].output
    if tensor in fgraph.inputs and len(fgraph.inputs) == len(keras_model.inputs):
        return keras_model.inputs[fgraph.inputs.index(tensor)]
    return None
