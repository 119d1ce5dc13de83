"""The content layer of a .tflite check: the main subgraph's indices, shapes, buffers, types and
quantization agree with each other, as LiteRT's InterpreterBuilder requires, before the reader
builds a graph from them. `tflite_verify` has already checked that the flatbuffer lies inside the
file; what is left is values that are in bounds but inconsistent (a flipped byte in an index, a
shape, a type code). Each check raises `Damaged` naming the first inconsistency:

    tensor 12 'conv/w': its buffer holds 100 bytes, shape (3, 3, 3, 8) float32 needs 864
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qgraph.emit.schema import S
from qgraph.emit.tflite import TENSOR_TYPES
from qgraph.frontend.tflite_check_ops import check_operator
from qgraph.frontend.tflite_check_sparse import check_sparsity
from qgraph.frontend.tflite_verify import Damaged

DTYPES = {v: k for k, v in TENSOR_TYPES.items()}
BUILTIN_NAMES = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
_TENSOR_TYPE_NAMES = {v: k for k, v in vars(S.TensorType).items() if not k.startswith("_")}


def text(b: Any, where: str) -> str:
    """A name from the file as text."""
    if not isinstance(b, bytes):
        return "" if b is None else str(b)
    try:
        return b.decode()
    except UnicodeDecodeError:
        raise Damaged(f"{where}: its name {b[:40]!r} is not UTF-8 text") from None


def tensor_label(t: Any, k: int) -> str:
    return f"tensor {k} {text(t.name, f'tensor {k}')!r}"


def constant_bytes(model: Any, t: Any, data: bytes) -> bytes | None:
    """The bytes of tensor `t`'s buffer, None when it has none (buffer 0 or an empty buffer).
    A buffer with an `offset` keeps its data after the flatbuffer (models over 2 GB)."""
    if not t.buffer:
        return None
    buf = model.buffers[t.buffer]
    if buf.offset > 1:
        if buf.offset + buf.size > len(data):
            raise Damaged(
                f"buffer {t.buffer}: its data at byte {buf.offset} ({buf.size} bytes) runs past the end "
                f"of the file ({len(data)} bytes; truncated?)"
            )
        return data[buf.offset : buf.offset + buf.size] or None
    return bytes(buf.data) if buf.data is not None and len(buf.data) else None


def check_model(model: Any, data: bytes) -> None:
    """Raise `Damaged` at the first inconsistency of the main subgraph (the one qgraph reads)."""
    if not model.subgraphs:
        raise Damaged("it has no subgraph")
    for i, c in enumerate(model.operatorCodes or []):
        code = max(c.builtinCode, c.deprecatedBuiltinCode)
        if code not in BUILTIN_NAMES:
            raise Damaged(
                f"operator code {i}: builtin code {code} is not a TFLite builtin operator "
                f"(0..{max(BUILTIN_NAMES)})"
            )
    sub = model.subgraphs[0]
    tensors = sub.tensors or []
    for k, t in enumerate(tensors):
        _check_tensor(model, t, k, data)
    n = len(tensors)
    writer: dict[int, int] = {}
    for k, o in enumerate(sub.operators or []):
        n_codes = len(model.operatorCodes or [])
        if not 0 <= o.opcodeIndex < n_codes:
            raise Damaged(
                f"operator {k}: its operator code index {o.opcodeIndex} is not one of the file's {n_codes}"
            )
        c = model.operatorCodes[o.opcodeIndex]
        builtin = BUILTIN_NAMES[max(c.builtinCode, c.deprecatedBuiltinCode)]
        where = f"operator {k} ({builtin})"
        for port, i in enumerate(o.inputs if o.inputs is not None else []):
            if not -1 <= i < n:
                raise Damaged(
                    f"{where}: input {port} is tensor {i}, the subgraph has {n} "
                    "(-1 only for an omitted optional input)"
                )
        for port, i in enumerate(o.outputs if o.outputs is not None else []):
            if not 0 <= i < n:
                raise Damaged(f"{where}: output {port} is tensor {i}, the subgraph has {n}")
            if i in writer:
                raise Damaged(f"{tensor_label(tensors[i], i)} is written by operators {writer[i]} and {k}")
            writer[i] = k
        check_operator(where, builtin, o)
    for role, indices in (("input", sub.inputs), ("output", sub.outputs)):
        for port, i in enumerate(indices if indices is not None else []):
            if not 0 <= i < n:
                raise Damaged(f"subgraph 0: {role} {port} is tensor {i}, the subgraph has {n}")


def _check_tensor(model: Any, t: Any, k: int, data: bytes) -> None:
    """Tensor `k`'s type, shape, buffer (its size, or its sparsity parameters) and quantization."""
    where = tensor_label(t, k)
    dtype = DTYPES.get(t.type)
    if t.type not in _TENSOR_TYPE_NAMES:
        raise Damaged(f"{where}: type code {t.type} is not a TFLite tensor type")
    if dtype is None:
        raise Damaged(
            f"{where}: TFLite type {_TENSOR_TYPE_NAMES[t.type]} is not one qgraph reads "
            f"({', '.join(TENSOR_TYPES)})"
        )
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    if any(d < 0 for d in shape):
        raise Damaged(f"{where}: shape {tuple(shape)} has a negative dimension")
    if t.shapeSignature is not None and len(t.shapeSignature):
        sig = [int(d) for d in t.shapeSignature]
        if len(sig) != len(shape) or any(s not in (-1, d) for s, d in zip(sig, shape, strict=False)):
            raise Damaged(f"{where}: shape signature {tuple(sig)} does not fit its shape {tuple(shape)}")
    if t.externalBuffer:
        raise Damaged(
            f"{where}: its data is in external buffer {t.externalBuffer}, which qgraph does not read"
        )
    n_buffers = len(model.buffers or [])
    if not 0 <= t.buffer < max(n_buffers, 1):
        raise Damaged(f"{where}: buffer index {t.buffer} is not one of the file's {n_buffers} buffers")
    raw = constant_bytes(model, t, data)
    itemsize = np.dtype(dtype).itemsize
    if raw is not None and t.sparsity is not None:
        if len(raw) % itemsize:
            raise Damaged(f"{where}: its sparse buffer holds {len(raw)} bytes, not whole {dtype} values")
        check_sparsity(where, t.sparsity, shape, itemsize)
    elif raw is not None and len(raw) != math.prod(shape) * itemsize:
        raise Damaged(
            f"{where}: its buffer holds {len(raw)} bytes, shape {tuple(shape)} {dtype} needs "
            f"{math.prod(shape) * itemsize}"
        )
    _check_quantization(where, t.quantization, shape)


def _check_quantization(where: str, q: Any, shape: list[int]) -> None:
    """Scales and zero points as InterpreterBuilder::ParseQuantization requires them."""
    if q is None or q.scale is None or not len(q.scale):
        return
    n_zero = 0 if q.zeroPoint is None else len(q.zeroPoint)
    if n_zero != len(q.scale):
        raise Damaged(f"{where}: {len(q.scale)} quantization scales but {n_zero} zero points")
    if len(q.scale) > 1:
        axis = q.quantizedDimension
        if not 0 <= axis < len(shape):
            raise Damaged(f"{where}: quantized dimension {axis} is not a dimension of shape {tuple(shape)}")
        if shape[axis] != len(q.scale):
            raise Damaged(
                f"{where}: {len(q.scale)} quantization scales for dimension {axis} of size {shape[axis]}"
            )
