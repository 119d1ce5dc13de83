"""The content check of a sparse constant (`SparsityParameters`), before `tflite_sparse.densify`
expands it: every dimension's metadata agrees with the tensor's shape, so that the expansion
allocates no more than the dense tensor and indexes nothing outside it. A flipped dense size or
segment would otherwise ask numpy for gigabytes, or a negative index would wrap around.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qgraph.emit.schema import S
from qgraph.frontend.tflite_verify import Damaged

#: the largest dense tensor a sparse one may stand for: what a .tflite can hold (flatbuffers' 2 GB).
MAX_DENSE_BYTES = 2**31


def check_sparsity(where: str, sp: Any, shape: list[int], itemsize: int) -> None:
    """Raise `Damaged` unless sparsity parameters `sp` describe a tensor of `shape`."""
    rank = len(shape)
    order = [int(v) for v in (sp.traversalOrder if sp.traversalOrder is not None else range(rank))]
    block_map = [int(v) for v in (sp.blockMap if sp.blockMap is not None else [])]
    levels = sp.dimMetadata or []
    if (
        len(levels) != len(order)
        or sorted(order) != list(range(rank + len(block_map)))
        or sorted(set(block_map)) != sorted(block_map)
        or any(not 0 <= a < rank for a in block_map)
    ):
        raise Damaged(
            f"{where}: its sparsity parameters do not fit its shape {tuple(shape)} (traversal order "
            f"{order}, block map {block_map}, {len(levels)} dimension metadata entries)"
        )
    if math.prod(shape) * itemsize > MAX_DENSE_BYTES:
        raise Damaged(f"{where}: its dense shape {tuple(shape)} is larger than a .tflite can hold")
    block = [1] * rank
    for k, axis in enumerate(block_map):
        level = levels[order.index(rank + k)]
        if level.format != S.DimensionType.DENSE or not 1 <= level.denseSize <= max(shape[axis], 1):
            raise Damaged(f"{where}: block dimension {k} (axis {axis}) has size {level.denseSize}")
        block[axis] = int(level.denseSize)
    for at, (axis, level) in enumerate(zip(order, levels, strict=True)):
        size = -(-shape[axis] // block[axis]) if axis < rank else block[block_map[axis - rank]]
        if level.format == S.DimensionType.DENSE:
            if level.denseSize != size:
                raise Damaged(
                    f"{where}: sparse level {at} is dense of size {level.denseSize}, its dimension has {size}"
                )
        elif level.format == S.DimensionType.SPARSE_CSR:
            _check_csr(f"{where}: sparse level {at}", level, size)
        else:
            raise Damaged(f"{where}: sparse level {at} has format {level.format}, not DENSE or SPARSE_CSR")


def _check_csr(where: str, level: Any, size: int) -> None:
    segments, indices = _vector(level.arraySegments), _vector(level.arrayIndices)
    if not segments.size:
        raise Damaged(f"{where}: a SPARSE_CSR dimension without segments")
    if segments[0] != 0 or np.any(np.diff(segments) < 0) or segments[-1] > indices.size:
        raise Damaged(f"{where}: its segments do not rise from 0 to at most its {indices.size} indices")
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise Damaged(f"{where}: an index lies outside its dimension of size {size}")


def _vector(v: Any) -> np.ndarray:
    """An index vector's values (none: a member type the schema does not define)."""
    if v is None or v.values is None:
        return np.zeros(0, np.int64)
    return np.asarray(v.values).astype(np.int64).reshape(-1)
