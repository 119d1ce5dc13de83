""".tflite -> IR, for inspection (`qgraph.load("model.tflite")`, `qgraph inspect model.tflite`).

Reads the main subgraph through the schema module: tensors with their dtype, shape
(the signature's -1 kept), constant data and quantization; ops with their builtin options
decoded into the attrs the rest of qgraph uses. A sparse constant (`SparsityParameters`) is
read dense and marked to be written sparse again in the same blocks; a DENSIFY reading it stays
in the graph as the identity it computes. A file qgraph wrote reads back into the graph it was
written from, and writes back byte for byte.
"""

from __future__ import annotations

import os

import numpy as np

from qgraph.emit.schema import S
from qgraph.emit.tflite import TENSOR_TYPES
from qgraph.emit.tflite_ops import opdefs_for_builtin
from qgraph.emit.tflite_sparse import densify, mark_sparse
from qgraph.errors import QGraphError
from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.ops import OpDef
from qgraph.ops.tflite_options import decode_options

_DTYPES = {v: k for k, v in TENSOR_TYPES.items()}
_BUILTIN_NAMES = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}


def _op_type(code: int) -> tuple[str, OpDef | None]:
    """A builtin code -> (IR op type, its OpDef): the OpDef that writes a builtin reads it back;
    a builtin qgraph does not define keeps its name (the graph can be inspected, not compiled)."""
    name = _BUILTIN_NAMES.get(code, "CUSTOM")
    found = opdefs_for_builtin(name)
    if len(found) > 1:
        raise QGraphError(
            f"TFLite builtin {name} is written by several op types ({', '.join(d.type for d in found)}): "
            "qgraph cannot tell which one the file's operator is"
        )
    return (found[0].type, found[0]) if found else (name, None)


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


def _text(b) -> str:
    return b.decode() if isinstance(b, bytes) else str(b)


def from_tflite(path_or_bytes: str | os.PathLike | bytes) -> Graph:
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
    else:
        with open(os.fspath(path_or_bytes), "rb") as f:
            data = f.read()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise QGraphError("not a TFLite flatbuffer (file identifier TFL3 missing)")
    model = S.ModelT.InitFromPackedBuf(data, 0)
    sub = model.subgraphs[0]
    graph = Graph(_text(sub.name) if sub.name else "tflite")
    tensors = []
    for t in sub.tensors:
        dtype = _DTYPES.get(t.type)
        if dtype is None:
            raise QGraphError(
                f"tensor {_text(t.name)!r} has TFLite type {t.type}, which qgraph does not read"
            )
        shape = [int(d) for d in (t.shapeSignature if t.shapeSignature is not None else t.shape)]
        buf = model.buffers[t.buffer].data if t.buffer else None
        const = None if buf is None else np.frombuffer(bytes(buf), dtype=np.dtype(dtype).newbyteorder("<"))
        block = None
        if const is not None and t.sparsity is not None:
            dense_shape = tuple(int(d) for d in t.shape)
            const, block = densify(const.astype(dtype), dense_shape, t.sparsity, _text(t.name))
        elif const is not None:
            const = const.astype(dtype).reshape([int(d) for d in t.shape])
        q = t.quantization
        quant = None
        if q is not None and q.scale is not None and len(q.scale):
            axis = int(q.quantizedDimension) if len(q.scale) > 1 else None
            quant = QuantParams(
                np.asarray(q.scale, np.float32), np.asarray(q.zeroPoint, np.int64), axis=axis, dtype=dtype
            )
        tensors.append(graph.add_tensor(Tensor(_text(t.name), tuple(shape), dtype, const, quant)))
        if block is not None and all(d % b == 0 for d, b in zip(tensors[-1].shape, block, strict=True)):
            mark_sparse(tensors[-1], block)  # written back sparse; padded last blocks are written dense
    codes = [_op_type(max(c.builtinCode, c.deprecatedBuiltinCode)) for c in model.operatorCodes]
    for k, o in enumerate(sub.operators):
        op_type, d = codes[o.opcodeIndex]
        inputs = [tensors[i] if i >= 0 else None for i in o.inputs]
        if (
            d is not None
            and d.bias_port is not None
            and len(inputs) == d.bias_port + 1
            and inputs[d.bias_port] is None
            and inputs[0]
            and inputs[1]
        ):
            inputs[d.bias_port] = _zero_bias(graph, f"{op_type.lower()}_{k}/bias", d, inputs[0], inputs[1])
        if any(t is None for t in inputs):
            raise QGraphError(
                f"operator {k} ({op_type}) omits an optional input, which qgraph reads only for a "
                "conv or dense bias"
            )
        graph.add_op(
            Op(f"{op_type.lower()}_{k}", op_type, ((d and d.decode) or decode_options)(o.builtinOptions)),
            [t for t in inputs if t is not None],
            [tensors[i] for i in o.outputs],
        )
    graph.inputs = [tensors[i].name for i in sub.inputs]
    graph.outputs = [tensors[i].name for i in sub.outputs]
    sig = (model.signatureDefs or [None])[0]
    if sig is not None and sig.outputs:
        by_index = {m.tensorIndex: _text(m.name) for m in sig.outputs}
        graph.meta["output_names"] = [by_index.get(i, tensors[i].name) for i in sub.outputs]
    graph.meta["description"] = _text(model.description or "")
    return graph
