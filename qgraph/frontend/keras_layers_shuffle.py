"""Lowerings of the layers that move axes or multiply matrices: Permute, RepeatVector, Dot; the
softmax over any axes the Softmax layer uses; and the shape helpers attention shares
(conventions in `lowering.py`). TRANSPOSE, RESHAPE and TILE keep the int8 scale, so the axis
moves cost no accuracy.
"""

from __future__ import annotations

import numpy as np

from qgraph.frontend.lowering import LowerCtx, lowers
from qgraph.ir import Tensor


def reshape(ctx: LowerCtx, x: Tensor, shape: tuple[int, ...], suffix: str) -> Tensor:
    """x reshaped to `shape` (batch first, kept dynamic)."""
    new_shape = (-1, *(int(d) for d in shape[1:]))
    if any(d < 0 for d in new_shape[1:]):
        raise ctx.fail(
            f"reshape to {shape} is not supported (supported: static sizes after the batch dimension)"
        )
    const = ctx.const(f"{suffix or 'output'}_shape", new_shape, "int32")
    return ctx.emit("RESHAPE", [x, const], (x.shape[0], *new_shape[1:]), suffix, new_shape=new_shape)


def transpose(ctx: LowerCtx, x: Tensor, perm: tuple[int, ...], suffix: str) -> Tensor:
    shape = tuple(x.shape[p] for p in perm)
    return ctx.emit("TRANSPOSE", [x, ctx.const(f"{suffix or 'output'}_perm", perm, "int32")], shape, suffix)


def heads_split(ctx: LowerCtx, x: Tensor, heads: int, name: str) -> Tensor:
    """(B, T, heads * d) -> (B, heads, T, d)."""
    _, t, width = x.shape
    split = reshape(ctx, x, (-1, t, heads, width // heads), f"{name}_heads")
    return transpose(ctx, split, (0, 2, 1, 3), f"{name}_heads_first")


def heads_merged(ctx: LowerCtx, x: Tensor, name: str) -> Tensor:
    """(B, heads, T, d) -> (B, T, heads * d)."""
    _, heads, t, d = x.shape
    return reshape(
        ctx, transpose(ctx, x, (0, 2, 1, 3), f"{name}_seq_first"), (-1, t, heads * d), f"{name}_merged"
    )


def softmax_over(ctx: LowerCtx, x: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Softmax over `axes` (jointly, as Keras does for several): the axes are moved last by
    TRANSPOSE and merged by RESHAPE around the last-axis SOFTMAX, then put back."""
    rank = len(x.shape)
    axes = tuple(sorted({int(a) % rank for a in axes}))
    if not axes or 0 in axes:
        raise ctx.fail(f"softmax over axes {axes} is not supported (supported: any axes but the batch axis)")
    kept = tuple(i for i in range(rank) if i not in axes)
    perm = kept + axes
    moves, merges = perm != tuple(range(rank)), len(axes) > 1
    y = transpose(ctx, x, perm, "axes_last") if moves else x
    moved = y.shape
    if merges:
        y = reshape(ctx, y, (*moved[: len(kept)], int(np.prod(moved[len(kept) :]))), "axes_merged")
    y = ctx.emit("SOFTMAX", [y], y.shape, "softmax" if moves or merges else "", beta=1.0)
    if merges:
        y = reshape(ctx, y, moved, "axes_split" if moves else "")
    if moves:
        y = transpose(ctx, y, tuple(int(i) for i in np.argsort(perm)), "")
    return y


@lowers("Permute")
def _permute(ctx: LowerCtx) -> list[Tensor]:
    """TRANSPOSE | any permutation of the non-batch axes"""
    return [transpose(ctx, ctx.x, (0, *(int(d) for d in ctx.layer.dims)), "")]


@lowers("RepeatVector")
def _repeat_vector(ctx: LowerCtx) -> list[Tensor]:
    """RESHAPE, TILE | (batch, features) -> (batch, n, features)"""
    n, features = int(ctx.layer.n), ctx.x.shape[-1]
    row = reshape(ctx, ctx.x, (-1, 1, features), "expand")
    return [ctx.emit("TILE", [row, ctx.const("multiples", [1, n, 1], "int32")], (-1, n, features))]


def _l2_normalized(ctx: LowerCtx, x: Tensor, axis: int, name: str) -> Tensor:
    """x * rsqrt(sum(x^2) + floor): Keras' x * min(rsqrt(sum(x^2)), 1 / epsilon) (tf-keras: the sum
    floored at 1e-12) written without a MINIMUM against a constant, which int8 cannot hold next to
    the norms. Equal to float rounding for |x| above ~1e-3 (sum above 1e-7 / 1e-5); an all-zero x
    still gives 0."""
    floor = 1e-12 if type(ctx.layer).__module__.startswith("tf_keras") else _keras_epsilon() ** 2
    reduced = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
    squares = ctx.emit("MUL", [x, x], x.shape, f"{name}_squares", fused="NONE")
    total = ctx.emit(
        "SUM", [squares, ctx.const(f"{name}_axis", [axis], "int32")], reduced, f"{name}_sum", keep_dims=True
    )
    total = ctx.emit(
        "ADD",
        [total, ctx.const(f"{name}_floor", np.float32(floor))],
        reduced,
        f"{name}_floored",
        fused="NONE",
    )
    inv = ctx.emit("RSQRT", [total], reduced, f"{name}_rsqrt")
    return ctx.emit("MUL", [x, inv], x.shape, f"{name}_normalized", fused="NONE")


def _keras_epsilon() -> float:
    import keras

    return float(keras.backend.epsilon())


@lowers("Dot")
def _dot(ctx: LowerCtx) -> list[Tensor]:
    """BATCH_MATMUL (RESHAPE for 2-D; MUL, SUM, ADD, RSQRT for normalize) | 2-D or 3-D inputs, any axes, normalize"""
    x1, x2 = ctx.inputs
    rank = len(x1.shape)
    if rank != len(x2.shape) or rank not in (2, 3):
        raise ctx.fail(
            f"inputs of shapes {x1.shape}, {x2.shape} are not supported (supported: both 2-D or both 3-D)"
        )
    axes = ctx.layer.axes
    a1, a2 = (int(a) % rank for a in ((axes, axes) if isinstance(axes, int) else axes))
    if 0 in (a1, a2):
        raise ctx.fail("a dot product over the batch axis is not supported")
    if ctx.layer.normalize:
        x1, x2 = _l2_normalized(ctx, x1, a1, "x1"), _l2_normalized(ctx, x2, a2, "x2")
    if rank == 2:  # (B, D) . (B, D) -> (B, 1), as a (1, D) @ (D, 1) product per sample
        d = x1.shape[1]
        row, col = reshape(ctx, x1, (-1, 1, d), "x1_row"), reshape(ctx, x2, (-1, d, 1), "x2_col")
        product = ctx.emit("BATCH_MATMUL", [row, col], (-1, 1, 1), "matmul")
        return [reshape(ctx, product, (-1, 1), "")]
    # (B, m, k) @ (B, k, n): x1's contracted axis last (adj_x), x2's first (adj_y).
    return [ctx.emit("BATCH_MATMUL", [x1, x2], adj_x=a1 == 1, adj_y=a2 == 2)]
