"""The arithmetic of pruning and clustering, written once in `keras.ops`: the compress passes
call it on numpy arrays (initial masks and clustered weights), the trainable layers on
variables inside `fit`, so the IR and the model it trains never disagree.

    >>> np.asarray(magnitude_mask(np.array([[0.1, -3.0, 0.2, 2.0]]), 0.5))
    array([[0., 1., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from qgraph.compress.constraints import Clustering, Pruning


def scheduled_sparsity(p: Pruning, step: Any) -> Any:
    """The sparsity `p`'s schedule asks for at training step `step`."""
    if p.schedule != "polynomial":
        return ops.convert_to_tensor(p.sparsity, "float32")
    span = float(max(p.end_step - p.begin_step, 1))
    done = ops.clip((ops.cast(step, "float32") - p.begin_step) / span, 0.0, 1.0)
    return p.sparsity + (p.initial_sparsity - p.sparsity) * (1.0 - done) ** 3


def update_due(p: Pruning, step: Any) -> Any:
    """Whether the mask is recomputed at `step`: every `frequency` steps in [begin, end]."""
    step = ops.cast(step, "int32")
    started = step >= p.begin_step
    not_ended = ops.convert_to_tensor(p.end_step < 0) | (step <= p.end_step)
    on_beat = ops.equal(ops.mod(step - p.begin_step, p.frequency), 0)
    return started & not_ended & on_beat


def magnitude_mask(
    w: Any,
    sparsity: Any,
    block: tuple[int, int] = (1, 1),
    m_by_n: tuple[int, int] | None = None,
    input_axis: int = -1,
) -> Any:
    """1.0 where a weight is kept, 0.0 where pruned: the `ceil(sparsity * n)` smallest by
    magnitude (so a kernel has at least `sparsity` zeros), by block mean for `block`, or
    the n - m smallest of every n along `input_axis` for `m_by_n`."""
    a = ops.abs(ops.convert_to_tensor(w, "float32"))
    if m_by_n is not None:
        return _m_by_n_mask(a, m_by_n[0], m_by_n[1], input_axis)
    blocked = tuple(block) != (1, 1)
    scores, sizes = _block_scores(a, block) if blocked else (a, ops.ones_like(a))
    order = ops.argsort(ops.reshape(scores, (-1,)))
    flat = ops.take(ops.reshape(scores, (-1,)), order)
    # Prune the lowest-scoring blocks until they hold ceil(sparsity * n) weights: edge blocks of a
    # shape the block does not divide hold fewer, so counting blocks would fall short.
    wanted = ops.ceil(ops.cast(sparsity, "float32") * _size(a) - 1e-6)
    covered = ops.cumsum(ops.take(ops.reshape(sizes, (-1,)), order))
    pruned = ops.sum(ops.cast(covered < wanted, "int32")) + ops.cast(wanted > 0, "int32")
    threshold = ops.take(flat, ops.clip(pruned - 1, 0, int(flat.shape[0]) - 1))
    keep = ops.logical_or(pruned <= 0, scores > threshold)
    mask = ops.cast(keep, "float32")
    if blocked:
        rows, cols = block
        mask = ops.repeat(ops.repeat(mask, rows, axis=0), cols, axis=1)[: a.shape[0], : a.shape[1]]
    return mask


def _size(a) -> int:
    size = 1
    for d in a.shape:
        size *= int(d)
    return size


def _block_scores(a, block: tuple[int, int]):
    """(mean magnitude, number of weights) per block; edge blocks average only their own weights."""
    if len(a.shape) != 2:
        raise ValueError(f"block sparsity needs 2-D weights, got shape {tuple(a.shape)}")
    rows, cols = block
    out_dim, in_dim = int(a.shape[0]), int(a.shape[1])
    pad = [[0, -out_dim % rows], [0, -in_dim % cols]]
    r, c = (out_dim + pad[0][1]) // rows, (in_dim + pad[1][1]) // cols
    total = ops.sum(ops.reshape(ops.pad(a, pad), (r, rows, c, cols)), axis=(1, 3))
    sizes = ops.sum(ops.reshape(ops.pad(ops.ones_like(a), pad), (r, rows, c, cols)), axis=(1, 3))
    return total / sizes, sizes


def _m_by_n_mask(a, m: int, n: int, axis: int):
    moved = ops.moveaxis(a, axis, -1)
    shape = tuple(int(d) for d in moved.shape)
    groups = ops.reshape(moved, (-1, n))
    # Rank within each group of n (0 = smallest): keep the m largest, ties broken by position.
    rank = ops.argsort(ops.argsort(groups, axis=-1), axis=-1)
    keep = ops.cast(rank >= n - m, "float32")
    return ops.moveaxis(ops.reshape(keep, shape), -1, axis)


def cluster_weights(w: Any, centroids: Any, c: Clustering):
    """Every weight replaced by its nearest centroid (per channel along `c.axis` with
    `c.per_channel`). The gradient reaches the centroids summed per cluster and the latent
    weights straight through, as tfmot's clustering does. With `preserve_sparsity` the pinned
    zero is not among them: the mask zeroes the pruned weights, and a kept weight stays
    nonzero however small (it would otherwise be pruned by the back door)."""
    w = ops.convert_to_tensor(w, "float32")
    table = ops.convert_to_tensor(centroids, "float32")
    if not c.per_channel:
        index = ops.argmin(ops.abs(ops.expand_dims(w, -1) - table), axis=-1)
        clustered = ops.take(table, index)
    else:
        moved = ops.moveaxis(w, c.axis, 0)
        rows = ops.reshape(moved, (moved.shape[0], -1))
        index = ops.argmin(ops.abs(ops.expand_dims(rows, -1) - ops.expand_dims(table, 1)), axis=-1)
        picked = ops.take_along_axis(table, index, axis=1)
        clustered = ops.moveaxis(ops.reshape(picked, moved.shape), 0, c.axis)
    return clustered + (w - ops.stop_gradient(w))


def as_numpy(x: Any):
    return keras.ops.convert_to_numpy(x)
