"""The Keras computation behind each matched tensor of the file, from the matched tensors
that feed it: fed the file's own values of those inputs, it gives what the layer would
output without its own rounding, so its error is the layer's alone (as the converter's
QuantizationDebugger compares each op with its float op on the same, dequantized inputs).

`keras.Model(inputs=[intermediate tensors], outputs=tensor)` cuts that piece out of a
functional model (Keras 3 and tf-keras alike); in a Sequential model the piece is the run of
layers after the source's. Where neither works (a piece that also reads a tensor the file
does not hold), the layer has no segment, and verify estimates its own error instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class _Chain:
    """Layers called one after the other: a piece of a Sequential model."""

    def __init__(self, layers: list[Any]) -> None:
        self.layers = layers

    def __call__(self, inputs: list[Any], training: bool = False) -> Any:
        (x,) = inputs
        for layer in self.layers:
            x = layer(x, training=training)
        return x


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
        if type(keras_model).__name__ == "Sequential":
            piece: Any = _chain(keras_model, name, sources, by_tensor)
        else:
            try:
                piece = keras.Model(inputs, layers[name].output)
            except (ValueError, TypeError, KeyError, AttributeError):  # not a closed piece of the graph
                piece = None
        if piece is not None:
            segments[name] = Segment(piece, sources)
    return segments


def _chain(model: Any, name: str, sources: list[int], by_tensor: dict) -> _Chain | None:
    """The layers of Sequential `model` after the one source (a matched layer or the input) up
    to and including `name` (Sequential models cannot be cut with keras.Model)."""
    order = [layer.name for layer in model.layers]
    if len(sources) != 1:
        return None
    start = order.index(by_tensor[sources[0]]) + 1 if sources[0] in by_tensor else 0
    return _Chain(model.layers[start : order.index(name) + 1])


def _keras_tensor(tensor: int, by_tensor: dict, layers: dict, keras_model: Any, fgraph: Any) -> Any:
    if tensor in by_tensor:
        return layers[by_tensor[tensor]].output
    if tensor in fgraph.inputs and len(fgraph.inputs) == len(keras_model.inputs):
        return keras_model.inputs[fgraph.inputs.index(tensor)]
    return None
