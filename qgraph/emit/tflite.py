"""IR -> TFLite flatbuffer, through the schema module's object API (never TFLiteConverter).

Model version 3; buffer 0 empty; constant data 16-byte aligned, one buffer per constant;
`builtin_code` and `deprecated_builtin_code = min(code, 127)`; one `serving_default`
signature; `min_runtime_version` metadata; deterministic bytes for the same graph.
A constant marked sparse (`tflite_sparse.mark_sparse`) is written packed, with its
`SparsityParameters`; only DENSIFY and FULLY_CONNECTED weights may read one.
Speed: weights are copied once into a pre-sized builder (no per-element Python loops).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import flatbuffers
import numpy as np

from qgraph.emit import tflite_sparse
from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding, encode, min_runtime
from qgraph.errors import UnsupportedOpError
from qgraph.ir import Graph, Tensor

TENSOR_TYPES = {
    "float32": S.TensorType.FLOAT32,
    "float16": S.TensorType.FLOAT16,
    "int32": S.TensorType.INT32,
    "int64": S.TensorType.INT64,
    "int16": S.TensorType.INT16,
    "int8": S.TensorType.INT8,
    "uint8": S.TensorType.UINT8,
    "bool": S.TensorType.BOOL,
}
ALIGNMENT = 16
#: `Tensor.meta` key of a placeholder for optional inputs an op leaves out: written as input -1.
ABSENT_INPUT = "tflite.absent_input"
#: op attribute: input ports the kernel keeps state in (LSTM, RNN), written as variable tensors.
VARIABLE_INPUTS = "variable_inputs"


@dataclass
class SerializeCtx:
    """Handed to `qgraph_serialize_op`: the graph and the index of every tensor."""

    graph: Graph
    tensor_index: dict[str, int] = field(default_factory=dict)


class _AlignedBufferT(S.BufferT):
    """A buffer whose data vector starts on a 16-byte boundary (schema: force_align 16)."""

    def Pack(self, builder):  # noqa: N802 (the schema's method name)
        data = None
        if self.data is not None:
            payload = memoryview(self.data).cast("B")
            builder.StartVector(1, len(payload), ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            data = builder.EndVector(len(payload))
        S.BufferStart(builder)
        if data is not None:
            S.BufferAddData(builder, data)
        return S.BufferEnd(builder)


def serialize(graph: Graph, description: str = "qgraph") -> bytes:
    """Write `graph` (legalized: only TFLite builtin ops) as a `.tflite` flatbuffer."""
    ctx = SerializeCtx(graph)
    model = S.ModelT()
    model.version, model.description = 3, description
    model.buffers = [_AlignedBufferT()]
    sub = S.SubGraphT()
    sub.name, sub.tensors, sub.operators = "main", [], []

    ops = graph.ops()
    tflite_sparse.check_sparse_readers(graph, ops)
    order = list(graph.inputs)
    for op in ops:
        order += [t.name for t in graph.inputs_of(op) + graph.outputs_of(op)]
    shared: dict[tuple, int] = {}
    variables = {graph.inputs_of(op)[p].name for op in ops for p in op.attrs.get(VARIABLE_INPUTS, ())}
    for name in dict.fromkeys(order):
        if graph.tensor(name).meta.get(ABSENT_INPUT):
            ctx.tensor_index[name] = -1
            continue
        ctx.tensor_index[name] = len(sub.tensors)
        sub.tensors.append(_tensor(graph.tensor(name), model.buffers, shared))
        sub.tensors[-1].isVariable = name in variables

    encodings = [encode(op, ctx) for op in ops]
    # One operator code per builtin, at the highest version any of its ops needs (as the
    # converter writes it): a kernel registered at version n also runs what earlier ones did.
    top: dict[tuple, int] = {}
    for enc in encodings:
        key = (enc.builtin, enc.custom_code)
        top[key] = max(top.get(key, 0), enc.version)
    codes = {key: i for i, key in enumerate(top)}
    graph.meta["op_versions"] = {b: v for (b, c), v in top.items() if b is not None}
    model.operatorCodes = [_opcode(OpEncoding(b, top[b, c], custom_code=c)) for b, c in top]
    used = {(b, v) for (b, _), v in top.items()}
    for op, enc in zip(ops, encodings, strict=True):
        o = S.OperatorT()
        o.opcodeIndex = codes[enc.builtin, enc.custom_code]
        o.inputs = [ctx.tensor_index[t.name] for t in graph.inputs_of(op)]
        o.outputs = [ctx.tensor_index[t.name] for t in graph.outputs_of(op)]
        if enc.options_type is not None:
            o.builtinOptionsType = getattr(S.BuiltinOptions, enc.options_type)
            o.builtinOptions = enc.options
        sub.operators.append(o)
    sub.inputs = [ctx.tensor_index[n] for n in graph.inputs]
    sub.outputs = [ctx.tensor_index[n] for n in graph.outputs]
    model.subgraphs = [sub]
    model.signatureDefs = [_signature(graph, ctx)]
    model.metadata = [_metadata("min_runtime_version", _min_runtime(used), model.buffers)]

    size = sum(len(b.data) for b in model.buffers if b.data is not None)
    builder = flatbuffers.Builder(size + 64 * 1024 + 256 * len(sub.tensors))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensor(t: Tensor, buffers: list, shared: dict[tuple, int]) -> S.TensorT:
    out = S.TensorT()
    out.name, out.type = t.name, TENSOR_TYPES[t.dtype]
    out.shape = [1 if d < 0 else d for d in t.shape]
    if any(d < 0 for d in t.shape):
        out.shapeSignature = list(t.shape)
    out.buffer = 0
    if t.data is not None:
        data = np.ascontiguousarray(t.data, dtype=np.dtype(t.dtype).newbyteorder("<"))
        block = tflite_sparse.sparse_block(t)
        if block is not None:
            packed = tflite_sparse.encode(data, block)
            data, out.sparsity = packed.values, packed.to_schema()
        data = data.reshape(-1)
        # Identical constants share one buffer (zero biases after folding, repeated shapes).
        key = (
            data.dtype.str,
            data.size,
            hashlib.blake2b(data.view(np.uint8).data, digest_size=16).digest(),
        )
        if key not in shared:
            buf = _AlignedBufferT()
            buf.data = data
            shared[key] = len(buffers)
            buffers.append(buf)
        out.buffer = shared[key]
    if t.quant is not None:
        q = S.QuantizationParametersT()
        # numpy arrays: the object API writes them as one block (lists go element by element).
        q.scale = np.ascontiguousarray(t.quant.scale, dtype="<f4").reshape(-1)
        q.zeroPoint = np.ascontiguousarray(t.quant.zero_point, dtype="<i8").reshape(-1)
        q.quantizedDimension = t.quant.axis or 0
        out.quantization = q
    return out


def _opcode(enc: OpEncoding) -> S.OperatorCodeT:
    c = S.OperatorCodeT()
    if enc.custom_code is not None:
        c.builtinCode = c.deprecatedBuiltinCode = S.BuiltinOperator.CUSTOM
        c.customCode = enc.custom_code
    else:
        code = getattr(S.BuiltinOperator, enc.builtin or "", None)
        if code is None:
            raise UnsupportedOpError(f"{enc.builtin!r} is not a TFLite builtin operator")
        c.builtinCode, c.deprecatedBuiltinCode = code, min(code, 127)
    c.version = enc.version
    return c


def _signature(graph: Graph, ctx: SerializeCtx) -> S.SignatureDefT:
    def tmap(name: str, index: int) -> S.TensorMapT:
        m = S.TensorMapT()
        m.name, m.tensorIndex = name, index
        return m

    out_names = graph.meta.get("output_names") or graph.outputs
    if len(out_names) != len(graph.outputs):
        out_names = graph.outputs
    sig = S.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs = [tmap(n, ctx.tensor_index[n]) for n in graph.inputs]
    sig.outputs = [
        tmap(alias, ctx.tensor_index[n]) for alias, n in zip(out_names, graph.outputs, strict=True)
    ]
    return sig


def _min_runtime(used: set) -> str:
    versions = [min_runtime(b, v) if b else "1.5.0" for b, v in used] or ["1.5.0"]
    return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def _metadata(name: str, text: str, buffers: list) -> S.MetadataT:
    buf = _AlignedBufferT()
    buf.data = np.frombuffer(text.encode().ljust(16, b"\0"), dtype=np.uint8)
    md = S.MetadataT()
    md.name, md.buffer = name, len(buffers)
    buffers.append(buf)
    return md
