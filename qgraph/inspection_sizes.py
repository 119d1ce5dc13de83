"""Where a model's bytes go: constant bytes per op type and per layer, constant vs activation
memory, and an estimate of the peak activation memory (`qgraph inspect`'s size section).

The peak is an estimate: ops run in `graph.ops()` order, a tensor is live from the op that
writes it (a graph input: from the start) to its last reader (a graph output: to the end),
each at batch 1, and the peak is the most bytes live during one op (its inputs and outputs
together). TFLite's arena planner can do better (it reuses memory across tensors whose lives
do not overlap in other orders, and RESHAPE and some other ops run in place), so read it as
an upper bound of what the activations need, not as the arena size LiteRT reports.

    >>> s = sizes(qgraph.load("digits_int8.tflite"))
    >>> s.constant_bytes, s.by_op_type["CONV_2D"], s.peak_activation_bytes, s.peak_op
    (10768, 10192, 4096, 'concatenation_5')
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from qgraph.compress.stats import _stored as stored_constant
from qgraph.inspection_tensors import activation_bytes, is_activation
from qgraph.ir import Graph, Op, Tensor

#: How a graph names its layers: built from Keras, read from qgraph's file or another writer's.
KERAS, QGRAPH_FILE, OTHER_FILE = "keras", "qgraph", "other"


@dataclass(frozen=True)
class Sizes:
    """Bytes of the constants (each tensor's, dense) and of the activations (batch 1), constant
    bytes by the type and the layer of the op reading them (largest first), and the peak
    activation estimate: its bytes, the op it occurs at and the tensors live then."""

    constant_bytes: int
    constant_tensors: int
    activation_bytes: int
    activation_tensors: int
    by_op_type: dict[str, int]
    by_layer: dict[str, int]
    peak_activation_bytes: int
    peak_op: str | None
    peak_tensors: tuple[str, ...]
    #: float copies of constants made once, when the model loads (float16 weights' DEQUANTIZE):
    #: memory the model holds, but not activations.
    loaded_copy_bytes: int = 0


def _run_time(graph: Graph, t) -> bool:
    """An activation computed per inference, not once from constants (a DEQUANTIZE of weights)."""
    if not is_activation(t):
        return False
    producer = graph.producer(t)
    return producer is None or not all(i.data is not None for i in graph.inputs_of(producer))


def naming(graph: Graph) -> str:
    """KERAS for a graph built from a Keras model (no file description), QGRAPH_FILE for a
    file qgraph wrote (its description starts with "qgraph"), else OTHER_FILE."""
    description = graph.meta.get("description")
    if description is None:
        return KERAS
    return QGRAPH_FILE if str(description).startswith("qgraph") else OTHER_FILE


def converter_layer(tensor_name: str) -> str:
    """The layer in a TensorFlow tensor name as TFLiteConverter writes it (`;`-joined fused
    names): the first name's second path component, e.g. `stem_relu6` in
    `digits_cnn_1/stem_relu6_1/Relu6;...`. Keras 3 scopes every name in TF with a `_<n>`
    suffix (`digits_cnn_1`): when the model's scope has one, the layer's is dropped too."""
    first = re.sub(r":\d+$", "", tensor_name.split(";")[0])
    parts = first.split("/")
    if len(parts) < 2:
        return first
    layer = parts[1]
    if re.search(r"_\d+$", parts[0]):
        layer = re.sub(r"_\d+$", "", layer)
    return layer


def op_layer(graph: Graph, op: Op, style: str) -> str:
    """The layer `op` computes: its name's first path component in a Keras graph (ops are named
    after their layer there). In a file the reader names ops by type and position: in qgraph's,
    the layer of the first constant the op reads, also through a DEQUANTIZE (`stem` for
    `stem/kernel`), else of the tensor it writes (`concat` for `concat:0`); in other writers',
    `converter_layer` of the tensor it writes, or of its first constant when that tensor's name
    has no path (a model output is named after the signature: `StatefulPartitionedCall_1:0`)."""
    if style == KERAS:
        return op.name.split("/")[0]
    outputs = graph.outputs_of(op)
    written = outputs[0].name if outputs else op.name
    stored = [c.name for c in (stored_constant(graph, t) for t in graph.inputs_of(op)) if c is not None]
    if style == QGRAPH_FILE:
        return re.sub(r":\d+$", "", (stored[0] if stored else written).split("/")[0])
    named = [n for n in (written, *stored) if "/" in n.split(";")[0]]
    return converter_layer(named[0] if named else written)


def layer_of(graph: Graph, op: Op, constant: Tensor, style: str) -> str:
    """The layer a constant read by `op` belongs to. A Keras graph names ops after their layer
    (`side/conv_2d`); qgraph's files name constants after theirs (`stem/kernel`); other
    writers' (TFLiteConverter) keep the TF op names in the op's output tensor name."""
    return constant.name.split("/")[0] if style == QGRAPH_FILE else op_layer(graph, op, style)


def _reader(graph: Graph, t: Tensor) -> Op | None:
    """The op a constant is for: its first reader; through a DEQUANTIZE (float16 weights),
    the first op reading the DEQUANTIZE's output."""
    readers = graph.consumers(t)
    if not readers:
        return None
    op = readers[0]
    if op.type == "DEQUANTIZE":
        after = [r for out in graph.outputs_of(op) for r in graph.consumers(out)]
        return after[0] if after else op
    return op


def constant_breakdown(graph: Graph) -> tuple[dict[str, int], dict[str, int]]:
    """Constant bytes by op type and by layer of the op reading them, largest first; a
    constant no op reads is counted under "(unread)"."""
    style = naming(graph)
    by_type: Counter[str] = Counter()
    by_layer: Counter[str] = Counter()
    for t in graph.tensors():
        if t.data is None:
            continue
        op = _reader(graph, t)
        by_type[op.type if op else "(unread)"] += t.nbytes
        by_layer[layer_of(graph, op, t, style) if op else "(unread)"] += t.nbytes
    return dict(by_type.most_common()), dict(by_layer.most_common())


def peak_activations(graph: Graph) -> tuple[int, str | None, tuple[str, ...]]:
    """(peak live activation bytes, the op at the peak, the tensors live then); see the module
    docstring for what the estimate leaves out."""
    ops = graph.ops()
    step = {op.name: k for k, op in enumerate(ops)}
    last = max(len(ops) - 1, 0)
    acts = [t for t in graph.tensors() if _run_time(graph, t)]
    if not acts:
        return 0, None, ()
    starts, ends = [], []
    for t in acts:
        producer = graph.producer(t)
        start = step[producer.name] if producer is not None else 0
        readers = [step[op.name] for op in graph.consumers(t)]
        starts.append(start)
        ends.append(last if graph.is_graph_output(t) else max(readers, default=start))
    begin, end = np.array(starts), np.array(ends)
    nbytes = np.array([activation_bytes(t) for t in acts], dtype=np.int64)
    change = np.zeros(last + 2, np.int64)
    np.add.at(change, begin, nbytes)
    np.add.at(change, end + 1, -nbytes)
    live = np.cumsum(change)[: last + 1]
    k = int(np.argmax(live))
    alive = tuple(t.name for t, b, e in zip(acts, begin, end, strict=True) if b <= k <= e)
    return int(live[k]), (ops[k].name if ops else None), alive


def sizes(graph: Graph) -> Sizes:
    consts = [t for t in graph.tensors() if t.data is not None]
    acts = [t for t in graph.tensors() if _run_time(graph, t)]
    copies = [t for t in graph.tensors() if is_activation(t) and not _run_time(graph, t)]
    by_type, by_layer = constant_breakdown(graph)
    peak, at, alive = peak_activations(graph)
    return Sizes(
        sum(t.nbytes for t in consts),
        len(consts),
        sum(activation_bytes(t) for t in acts),
        len(acts),
        by_type,
        by_layer,
        peak,
        at,
        alive,
        sum(activation_bytes(t) for t in copies),
    )
