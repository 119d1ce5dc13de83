"""TFLite sparse tensors (schema `SparsityParameters`): the writer's encoding of a constant, the
reader's decoding of one, and the checks that keep a written file runnable by LiteRT.

A constant in the IR always holds its dense values. A pass asks the writer to store it sparse by
giving it a block shape, one entry per dimension: `mark_sparse(w, (1, 16))` stores the weight in
1x16 blocks, `(1, 1)` (all ones) value by value; `sparse_block(w)` reads it back.

The encoding is the one TFLiteConverter writes (format_converter.cc, dense_to_sparse_pass.cc,
flatbuffer_export.cc): the original dimensions in order, then one dimension per block axis larger
than 1 (`block_map`); every dimension DENSE except the last original one, SPARSE_CSR over blocks;
a block is stored when any of its values is not exactly zero (-0.0 is a zero). Segments and
indices are a Uint8Vector when their largest value is at most 255, a Uint16Vector up to 65535,
else an Int32Vector.

    >>> enc = encode(np.array([[0, 0, 3, 4], [0, 0, 0, 0]], np.int8), (1, 2))
    >>> enc.values, enc.segments, enc.indices
    (array([3, 4], dtype=int8), array([0, 1, 1]), array([1]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from qgraph.emit.schema import S
from qgraph.errors import QGraphError, UnsupportedOpError
from qgraph.ir import Graph, Op, Tensor

#: `Tensor.meta` key: the block shape the writer stores the constant in (absent: dense).
SPARSE_BLOCK = "tflite.sparse_block"

#: LiteRT's sparse FULLY_CONNECTED kernels (fully_connected.cc): (weight dtype, block) they run.
FULLY_CONNECTED_KERNELS = {("float32", (1, 1)), ("float32", (1, 4)), ("int8", (1, 16))}


def sparse_block(t: Tensor) -> tuple[int, ...] | None:
    return t.meta.get(SPARSE_BLOCK)


def mark_sparse(t: Tensor, block: tuple[int, ...]) -> None:
    """Ask the writer to store constant `t` sparse, in blocks of shape `block`."""
    if t.data is None:
        raise QGraphError(f"tensor {t.name!r} is not a constant: only constants can be stored sparse")
    shape, block = tuple(t.data.shape), tuple(int(b) for b in block)
    if len(block) != len(shape) or any(b < 1 or d % b for d, b in zip(shape, block, strict=True)):
        raise QGraphError(
            f"tensor {t.name!r}: block {block} does not tile its shape {list(shape)}; give one block "
            "size per dimension, each dividing that dimension"
        )
    t.meta[SPARSE_BLOCK] = block


@dataclass(frozen=True)
class SparseEncoding:
    """A constant in TFLite's sparse format: the stored `values` (whole blocks, in order), and
    the CSR arrays of its last dimension, counted in blocks."""

    values: np.ndarray
    segments: np.ndarray
    indices: np.ndarray
    blocked_shape: tuple[int, ...]
    block: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Bytes of values and index vectors, as written."""
        return int(self.values.nbytes) + sum(
            _index_vector(a)[1].values.nbytes for a in (self.segments, self.indices)
        )

    def to_schema(self) -> S.SparsityParametersT:
        rank = len(self.blocked_shape)
        block_axes = [i for i, b in enumerate(self.block) if b > 1]
        dims = [_dense(d) for d in self.blocked_shape[:-1]]
        csr = S.DimensionMetadataT()
        csr.format = S.DimensionType.SPARSE_CSR
        csr.arraySegmentsType, csr.arraySegments = _index_vector(self.segments)
        csr.arrayIndicesType, csr.arrayIndices = _index_vector(self.indices)
        dims += [csr] + [_dense(self.block[i]) for i in block_axes]
        sp = S.SparsityParametersT()
        sp.traversalOrder = list(range(rank + len(block_axes)))
        sp.blockMap = block_axes
        sp.dimMetadata = dims
        return sp


def encode(data: np.ndarray, block: tuple[int, ...]) -> SparseEncoding:
    """`data` in TFLite's sparse format with blocks of shape `block` (each dividing its dimension)."""
    shape, block = tuple(data.shape), tuple(block)
    blocked = tuple(d // b for d, b in zip(shape, block, strict=True))
    # (B0, b0, B1, b1, ...) -> (B0, B1, ..., b0, b1, ...): one row of whole blocks per leading index.
    split = data.reshape([v for pair in zip(blocked, block, strict=True) for v in pair])
    rank = len(shape)
    grouped = split.transpose([2 * i for i in range(rank)] + [2 * i + 1 for i in range(rank)])
    blocks = grouped.reshape(math.prod(blocked[:-1]), blocked[-1], math.prod(block))
    stored = (blocks != 0).any(axis=2)
    segments = np.concatenate([[0], np.cumsum(stored.sum(axis=1))]).astype(np.int64)
    return SparseEncoding(
        np.ascontiguousarray(blocks[stored]).reshape(-1),
        segments,
        np.nonzero(stored)[1].astype(np.int64),
        blocked,
        block,
    )


def block_sparsity(data: np.ndarray, block: tuple[int, ...]) -> float:
    """The share of `data`'s values that lie in all-zero blocks (what a block encoding drops)."""
    enc = encode(data, block)
    return 1.0 - enc.values.size / data.size if data.size else 0.0


def densify(values: np.ndarray, shape: tuple[int, ...], sp, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """The dense array that `values` and sparsity parameters `sp` (a `SparsityParametersT`) stand
    for, and the block shape to write it back with. Any traversal order and mix of DENSE and
    SPARSE_CSR dimensions is read; each level expands all positions at once (numpy, no loop
    over elements)."""
    rank = len(shape)
    order = [int(v) for v in (sp.traversalOrder if sp.traversalOrder is not None else range(rank))]
    block_map = [int(v) for v in (sp.blockMap if sp.blockMap is not None else [])]
    levels = sp.dimMetadata or []
    if len(levels) != len(order) or sorted(order) != list(range(rank + len(block_map))):
        raise QGraphError(
            f"tensor {name!r}: sparsity parameters are inconsistent (traversal order {order}, "
            f"{len(block_map)} block dimensions, {len(levels)} dimension metadata entries)"
        )
    block = [1] * rank
    for k, axis in enumerate(block_map):
        block[axis] = int(levels[order.index(rank + k)].denseSize)
    positions = np.zeros(1, np.int64)
    coords: list[np.ndarray] = []
    for dm in levels:
        if dm.format == S.DimensionType.DENSE:
            size = int(dm.denseSize)
            coords = [np.repeat(c, size) for c in coords] + [np.tile(np.arange(size), positions.size)]
            positions = (positions[:, None] * size + np.arange(size)).reshape(-1)
        else:
            segments, indices = _values(dm.arraySegments), _values(dm.arrayIndices)
            if positions.size and positions.max() + 1 >= segments.size:
                raise QGraphError(f"tensor {name!r}: a SPARSE_CSR dimension has too few segments")
            starts, counts = segments[positions], np.diff(segments)[positions]
            first = np.repeat(np.cumsum(counts) - counts, counts)
            positions = np.arange(int(counts.sum())) - first + np.repeat(starts, counts)
            if positions.size and positions.max() >= indices.size:
                raise QGraphError(
                    f"tensor {name!r}: a SPARSE_CSR dimension has fewer indices than its segments count"
                )
            coords = [np.repeat(c, counts) for c in coords] + [indices[positions]]
    if positions.size != values.size or (positions.size and positions.max() >= values.size):
        raise QGraphError(
            f"tensor {name!r}: its sparsity parameters address {positions.size} values, its buffer holds {values.size}"
        )
    index = []
    inside = np.ones(positions.size, bool)
    for axis in range(rank):
        c = coords[order.index(axis)]
        if axis in block_map:
            c = c * block[axis] + coords[order.index(rank + block_map.index(axis))]
            # The last block of a dimension its block does not divide runs past the end (TFLiteConverter
            # pads it, e.g. 276 inputs in 1x16 blocks): those values must be padding zeros.
            inside &= c < shape[axis]
        elif c.size and c.max() >= shape[axis]:
            raise QGraphError(f"tensor {name!r}: a sparse index exceeds dimension {axis} ({shape[axis]})")
        index.append(c)
    stored = values[positions]
    if np.any(stored[~inside] != 0):
        raise QGraphError(f"tensor {name!r}: a sparse block holds nonzero values beyond the tensor's shape")
    dense = np.zeros(shape, values.dtype)
    dense[tuple(c[inside] for c in index)] = stored[inside]
    return dense, tuple(block)


def fully_connected_refusal(x: Tensor, w: Tensor) -> str | None:
    """Why LiteRT would refuse FULLY_CONNECTED with sparse weights `w` and input `x`, or None."""
    block = sparse_block(w)
    if (w.dtype, block) not in FULLY_CONNECTED_KERNELS or x.dtype != w.dtype:
        return (
            f"its sparse weights {w.name!r} are {w.dtype} in blocks {block} with {x.dtype} input; LiteRT's "
            "sparse kernels take float32 (blocks 1x1 or 1x4) or int8 with int8 input (1x16 blocks)"
        )
    if w.dtype == "int8" and (w.quant is None or np.any(w.quant.zero_point != 0)):
        return f"its sparse int8 weights {w.name!r} need zero point 0 (LiteRT's sparse int8 kernel)"
    return None


def check_sparse_readers(graph: Graph, ops: list[Op]) -> None:
    """Only DENSIFY and a FULLY_CONNECTED's weights can read a sparse tensor: any other kernel
    would read the packed values as dense ones."""
    for op in ops:
        for port, t in enumerate(graph.inputs_of(op)):
            if sparse_block(t) is not None and not (
                op.type == "DENSIFY" or (op.type == "FULLY_CONNECTED" and port == 1)
            ):
                raise UnsupportedOpError(
                    f"op {op.name!r} ({op.type}) reads sparse tensor {t.name!r} at input {port}: only "
                    "DENSIFY and FULLY_CONNECTED weights read sparse tensors in LiteRT; put a DENSIFY "
                    "between them"
                )


def _dense(size: int) -> S.DimensionMetadataT:
    dm = S.DimensionMetadataT()
    dm.format, dm.denseSize = S.DimensionType.DENSE, int(size)
    return dm


def _index_vector(a: np.ndarray) -> tuple[int, Any]:
    """(SparseIndexVector type, vector object) of the narrowest type that holds `a`."""
    top = int(a.max()) if a.size else 0
    for limit, kind, cls, dtype in (
        (255, S.SparseIndexVector.Uint8Vector, S.Uint8VectorT, "<u1"),
        (65535, S.SparseIndexVector.Uint16Vector, S.Uint16VectorT, "<u2"),
    ):
        if top <= limit:
            v = cls()
            v.values = a.astype(dtype)
            return kind, v
    v = S.Int32VectorT()
    v.values = a.astype("<i4")
    return S.SparseIndexVector.Int32Vector, v


def _values(vector) -> np.ndarray:
    if vector is None or vector.values is None:
        return np.zeros(0, np.int64)
    return np.asarray(vector.values).astype(np.int64)
