"""Which tensor of a .tflite holds which Keras layer's output, by name, and which matched
tensors feed each other (for the error a layer adds on top of its inputs').

qgraph names an op's output `layer:0` (`layer/part:0` inside a layer that lowers to several
ops); TFLiteConverter joins the TF op names an op fused with `;`, each a path
`model_1/layer_1/Op` (Keras 3 adds `_1` to every layer's scope). A tensor is given the latest
layer (in the model's order) that any part of its name names, and of several tensors for one
layer the last one written: the fused conv's output is its activation's layer output. The
graph outputs are the model outputs, by position. Shapes must agree, or the pair is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_PORT = re.compile(r":\d+$")
_KERAS3_SCOPE = re.compile(r"_\d+$")


@dataclass
class FileGraph:
    """The op graph of a subgraph as LiteRT reports it (tensor indices)."""

    names: dict[int, str]
    shapes: dict[int, tuple[int, ...]]
    producer: dict[int, int]  # tensor -> index of the op writing it
    op_inputs: list[list[int]]
    inputs: list[int]
    outputs: list[int]
    order: dict[int, int] = field(default_factory=dict)  # tensor -> position of its producer
    op_types: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, interp: Any, input_names: list[str], output_names: list[str]) -> FileGraph:
        """The graph, with `inputs` and `outputs` in the Keras model's order (`input_names`,
        `output_names`: its inputs' and output layers' names), read from the file's signature
        (TFLiteConverter orders a file's inputs by name and may list outputs in any order)."""
        details = interp.get_tensor_details()
        ops = interp._get_ops_details()  # the only op-level view LiteRT's Python API gives
        producer = {int(t): k for k, op in enumerate(ops) for t in op["outputs"] if t >= 0}
        inputs = [d["index"] for d in interp.get_input_details()]
        outputs = [d["index"] for d in interp.get_output_details()]
        signatures = interp.get_signature_list()
        if len(signatures) == 1:
            runner = interp.get_signature_runner(next(iter(signatures)))
            inputs = _in_model_order(runner.get_input_details(), input_names, inputs)
            outputs = _in_model_order(runner.get_output_details(), output_names, outputs)
        return cls(
            names={d["index"]: d["name"] for d in details},
            shapes={d["index"]: tuple(int(s) for s in d["shape_signature"]) for d in details},
            producer=producer,
            op_inputs=[[int(t) for t in op["inputs"] if t >= 0] for op in ops],
            inputs=inputs,
            outputs=outputs,
            order=dict(producer),
            op_types=[op["op_name"] for op in ops],
        )

    def computed_by(self, tensor: int) -> int:
        """The tensor the computing op wrote: `tensor` itself, or what a trailing DEQUANTIZE
        (qgraph's float output of an int8 model) read, which holds the same values."""
        while tensor in self.producer and self.op_types[self.producer[tensor]] == "DEQUANTIZE":
            tensor = self.op_inputs[self.producer[tensor]][0]
        return tensor

    def mapped_inputs(self, tensor: int, mapped: set[int]) -> set[int]:
        """The nearest matched tensors (or graph inputs) upstream of `tensor`'s producer."""
        found: set[int] = set()
        seen: set[int] = set()
        stack = list(self.op_inputs[self.producer[tensor]]) if tensor in self.producer else []
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in mapped or t in self.inputs:
                found.add(t)
            elif t in self.producer:  # an unmatched activation: look through its producer
                stack.extend(self.op_inputs[self.producer[t]])
        return found  # constants (no producer, not an input) are not error sources here


def _in_model_order(signature: dict[str, dict], names: list[str], default: list[int]) -> list[int]:
    """The signature's tensors in the order of `names`: by name (qgraph's and the converter's
    inputs; qgraph's outputs), else as `output_K` (the converter's outputs of a Keras 3 model);
    `default` (the subgraph's order) when the signature names them neither way."""
    by_name = {name: d["index"] for name, d in signature.items()}
    if set(by_name) == set(names) and len(names) == len(default):
        return [by_name[n] for n in names]
    numbered = {f"output_{k}" for k in range(len(default))}
    if set(by_name) == numbered:
        return [by_name[f"output_{k}"] for k in range(len(default))]
    return default


def layer_of(tensor_name: str, order: dict[str, int], model_name: str, keras3: bool = True) -> str | None:
    """The latest layer of `order` ({layer: position}) that a part of `tensor_name` names:
    the first path component of a qgraph name (`layer:0`, `layer/part:0`), the component after
    the model's scope in a converter name (`model_1/layer_1/Op`; not the op names deeper
    down, such as `batchnorm/add_1`, which would match a layer called `add`). Keras 3 scopes a
    layer `conv` as `conv_1`; tf-keras (`keras3=False`) scopes it as `conv`."""
    best: str | None = None
    for part in tensor_name.split(";"):
        parts = [_PORT.sub("", p) for p in part.split("/")]
        converter_style = len(parts) > 2 and _KERAS3_SCOPE.sub("", parts[0]) == model_name
        scope = parts[1] if converter_style else parts[0]
        stripped = _KERAS3_SCOPE.sub("", scope)
        tries = (stripped, scope) if converter_style and keras3 else (scope, stripped)
        name = next((t for t in tries if t in order), None)
        if name is not None and (best is None or order[name] > order[best]):
            best = name
    return best


def match_layers(
    graph: FileGraph,
    layers: list[str],
    shapes: dict[str, tuple[int, ...]],
    outputs: list[str | None],
    model_name: str,
    keras3: bool = True,
) -> dict[str, int]:
    """{layer: tensor index} for every layer whose output the file holds with the same shape."""
    order = {name: k for k, name in enumerate(layers)}
    candidates: dict[str, int] = {}
    for t, name in graph.names.items():
        if t not in graph.producer and t not in graph.inputs:
            continue  # a constant
        layer = layer_of(name, order, model_name, keras3)
        if layer is None or not _same_shape(graph.shapes[t], shapes[layer]):
            continue
        if layer not in candidates or graph.order.get(t, -1) > graph.order.get(candidates[layer], -1):
            candidates[layer] = t
    for layer, t in zip(outputs, graph.outputs, strict=False):  # both in the model's output order
        if layer is not None and _same_shape(graph.shapes[t], shapes[layer]):
            candidates[layer] = t
    return candidates


def _same_shape(file_shape: tuple[int, ...], keras_shape: tuple[int, ...]) -> bool:
    """Equal but for the batch dimension (unknown, or 1 in a file of fixed batch)."""
    return len(file_shape) == len(keras_shape) and all(
        a == b or a == -1 or b == -1 for a, b in zip(file_shape[1:], keras_shape[1:], strict=True)
    )
