""".tflite -> IR, for inspection (`qgraph.load("model.tflite")`, `qgraph inspect model.tflite`).

Reads the main subgraph through the schema module: tensors with their dtype, shape
(the signature's -1 kept), constant data and quantization; ops with their builtin options
decoded into the attrs the rest of qgraph uses. A sparse constant (`SparsityParameters`) is
read dense and marked to be written sparse again in the same blocks; a DENSIFY reading it stays
in the graph as the identity it computes. A file qgraph wrote reads back into the graph it was
written from, and writes back byte for byte.

A file is checked before anything is built from it, so that a damaged one (truncated, a flipped
byte) gives one `ModelFileError` naming the file and the first inconsistency, never a wrong
graph or an exception from deep inside: the flatbuffer lies inside the file (`tflite_verify`),
its indices, shapes, buffers and quantization agree (`tflite_check`), and the graph built from it
passes lint, except for ops qgraph does not define (kept to be inspected, not compiled).
"""

from __future__ import annotations

import os
import struct

import numpy as np

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import opdefs_for_builtin
from qgraph.emit.tflite_sparse import densify, mark_sparse
from qgraph.errors import ModelFileError, QGraphError
from qgraph.frontend.tflite_check import (
    BUILTIN_NAMES,
    DTYPES,
    check_model,
    constant_bytes,
    tensor_label,
    text,
)
from qgraph.frontend.tflite_check_ops import check_weights, lint_read_graph
from qgraph.frontend.tflite_verify import Damaged, verify
from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.ops import OpDef
from qgraph.ops.tflite_options import decode_options


def from_tflite(path_or_bytes: str | os.PathLike | bytes) -> Graph:
    label, data = _read(path_or_bytes)
    try:
        model = _unpack(data)
        check_model(model, data)
        graph = _build(model, data, label)
    except Damaged as e:
        raise ModelFileError(f"{label} is damaged or not a TFLite model: {e}") from None
    lint_read_graph(graph, label)
    return graph


def _read(path_or_bytes: str | os.PathLike | bytes) -> tuple[str, bytes]:
    """(the name errors give the file, its bytes), once it starts like a TFLite flatbuffer."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        label, data = "<bytes>", bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        label = repr(path)
        with open(path, "rb") as f:
            data = f.read()
    if not data:
        raise ModelFileError(f"{label} is empty (0 bytes), not a TFLite flatbuffer")
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(
            f"{label} is not a TFLite flatbuffer (file identifier TFL3 missing at bytes 4-8; "
            f"it starts with {data[:8]!r})"
        )
    return label, data


def _unpack(data: bytes) -> S.ModelT:
    verify(data)
    try:
        return S.ModelT.InitFromPackedBuf(data, 0)
    except (struct.error, ValueError, TypeError, IndexError, OverflowError) as e:
        # What the layout check leaves to the object API: the vectors inside builtin options.
        raise Damaged(f"its flatbuffer cannot be read ({type(e).__name__}: {e})") from None


def _op_type(code: int) -> tuple[str, OpDef | None]:
    """A builtin code -> (IR op type, its OpDef): the OpDef that writes a builtin reads it back;
    a builtin qgraph does not define keeps its name (the graph can be inspected, not compiled)."""
    name = BUILTIN_NAMES[code]
    found = opdefs_for_builtin(name)
    if len(found) > 1:
        raise QGraphError(
            f"TFLite builtin {name} is written by several op types ({', '.join(d.type for d in found)}): "
            "qgraph cannot tell which one the file's operator is"
        )
    return (found[0].type, found[0]) if found else (name, None)


def _build(model: S.ModelT, data: bytes, label: str) -> Graph:
    sub = model.subgraphs[0]
    graph = Graph(text(sub.name, "subgraph 0") or "tflite")
    tensors = [_tensor(graph, model, t, k, data) for k, t in enumerate(sub.tensors or [])]
    codes = [_op_type(max(c.builtinCode, c.deprecatedBuiltinCode)) for c in model.operatorCodes or []]
    for k, o in enumerate(sub.operators or []):
        op_type, d = codes[o.opcodeIndex]
        inputs = [tensors[i] if i >= 0 else None for i in (o.inputs if o.inputs is not None else [])]
        if d is not None:
            check_weights(f"operator {k} ({op_type})", d, inputs)
        if (
            d is not None
            and d.bias_port is not None
            and len(inputs) == d.bias_port + 1
            and inputs[d.bias_port] is None
            and inputs[0]
            and inputs[1]
            and inputs[1].is_constant
        ):
            inputs[d.bias_port] = _zero_bias(graph, f"{op_type.lower()}_{k}/bias", d, inputs[0], inputs[1])
        if any(t is None for t in inputs):
            raise QGraphError(
                f"{label}: operator {k} ({op_type}) omits an optional input, which qgraph reads only "
                "for a conv or dense bias with constant weights"
            )
        outputs = [tensors[i] for i in (o.outputs if o.outputs is not None else [])]
        try:
            attrs = ((d and d.decode) or decode_options)(o.builtinOptions)
        except AttributeError as e:  # a decoder reads its own options class; the file gave another
            if e.obj is not o.builtinOptions:
                raise
            name = type(o.builtinOptions).__name__.removesuffix("T")
            raise Damaged(
                f"operator {k} ({op_type}): its builtin options are {name}, which lack {e.name!r}"
            ) from None
        if op_type == "RESHAPE" and "new_shape" not in attrs:
            attrs["new_shape"] = _reshape_target(inputs, outputs)
        graph.add_op(
            Op(f"{op_type.lower()}_{k}", op_type, attrs), [t for t in inputs if t is not None], outputs
        )
    inputs, outputs = (list(v) if v is not None else [] for v in (sub.inputs, sub.outputs))
    graph.inputs = [tensors[i].name for i in inputs]
    graph.outputs = [tensors[i].name for i in outputs]
    sig = (model.signatureDefs or [None])[0]
    if sig is not None and sig.outputs:
        by_index = {m.tensorIndex: text(m.name, "signature 0 output") for m in sig.outputs}
        graph.meta["output_names"] = [by_index.get(i, tensors[i].name) for i in outputs]
    graph.meta["description"] = text(model.description, "the model description")
    return graph


def _tensor(graph: Graph, model: S.ModelT, t: S.TensorT, k: int, data: bytes) -> Tensor:
    """Tensor `k` of the main subgraph, in the graph (its checks passed)."""
    name, dtype = text(t.name, f"tensor {k}"), DTYPES[t.type]
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    signature = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else shape
    raw = constant_bytes(model, t, data)
    const = None if raw is None else np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    block = None
    if const is not None and t.sparsity is not None:
        try:
            const, block = densify(const.astype(dtype), tuple(shape), t.sparsity, name)
        except QGraphError as e:
            raise Damaged(f"{tensor_label(t, k)}: {e}") from None
    elif const is not None:
        const = const.astype(dtype).reshape(shape)
    q = t.quantization
    quant = None
    if q is not None and q.scale is not None and len(q.scale):
        axis = int(q.quantizedDimension) if len(q.scale) > 1 else None
        quant = QuantParams(
            np.asarray(q.scale, np.float32), np.asarray(q.zeroPoint, np.int64), axis=axis, dtype=dtype
        )
    tensor = graph.add_tensor(Tensor(name, tuple(int(d) for d in signature), dtype, const, quant))
    if block is not None and all(d % b == 0 for d, b in zip(tensor.shape, block, strict=True)):
        mark_sparse(tensor, block)  # written back sparse; padded last blocks are written dense
    return tensor


def _reshape_target(inputs: list[Tensor | None], outputs: list[Tensor]) -> tuple[int, ...]:
    """A RESHAPE's new shape when it has no options (TFLiteConverter's): its constant shape
    input, else its output's shape."""
    shape = inputs[1] if len(inputs) > 1 else None
    if shape is not None and shape.data is not None and shape.data.ndim == 1 and shape.dtype == "int32":
        return tuple(int(d) for d in shape.data)
    return tuple(outputs[0].shape) if outputs else ()


def _zero_bias(graph: Graph, name: str, d: OpDef, x: Tensor, w: Tensor) -> Tensor:
    """The bias a converter left out (all zero): qgraph's IR always has one."""
    from qgraph.quant.numerics import bias_params

    assert d.output_channel_axis is not None
    n = w.shape[d.output_channel_axis]
    integer = x.quant is not None and w.quant is not None and x.dtype in ("int8", "uint8")
    bias = graph.const(name, np.zeros(n, np.int32 if integer else np.float32))
    if integer:
        assert x.quant is not None and w.quant is not None
        bias.quant = bias_params(x.quant, w.quant)
    return bias
