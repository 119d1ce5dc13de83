"""Lowerings of LayerNormalization and GroupNormalization (conventions in `lowering.py`).

Both compute what Keras' `moments` + `rsqrt` do, with the ops TFLiteConverter writes for
them: MEAN, SQUARED_DIFFERENCE (x against the mean), MEAN, ADD epsilon, RSQRT.
LayerNormalization then follows Keras' formula, x * inv + (beta - mean * inv) with
inv = rsqrt * gamma, as the converter does: it rounds the full-size tensors the fewest times,
the best int8 choice for near-zero-mean rows (a transformer's residual stream).
GroupNormalization centres first, ((x - mean) * inv) + beta: its inv is small (one value per
group and channel), and centring keeps the scaled tensor's int8 range tight when the groups
carry an offset.
"""

from __future__ import annotations

import numpy as np

from qgraph.frontend.keras_layers_shuffle import reshape
from qgraph.frontend.lowering import LowerCtx, lowers
from qgraph.ir import Tensor


def _inverse_std(ctx: LowerCtx, x: Tensor, axes: tuple[int, ...], epsilon: float) -> tuple[Tensor, Tensor]:
    """(mean, 1 / sqrt(variance + epsilon)) over `axes`, both keeping the reduced axes as 1."""
    reduced = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    axes_const = ctx.const("axes", list(axes), "int32")
    mean = ctx.emit("MEAN", [x, axes_const], reduced, "mean", keep_dims=True)
    squares = ctx.emit("SQUARED_DIFFERENCE", [x, mean], x.shape, "squared_difference")
    variance = ctx.emit("MEAN", [squares, axes_const], reduced, "variance", keep_dims=True)
    shifted = ctx.emit(
        "ADD", [variance, ctx.const("epsilon", np.float32(epsilon))], reduced, "add_epsilon", fused="NONE"
    )
    return mean, ctx.emit("RSQRT", [shifted], reduced, "rsqrt")


def _broadcastable(param: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """A parameter over `axes` reshaped to broadcast against `shape` (a vector when only the last axis)."""
    if axes == (len(shape) - 1,):
        return param.reshape(-1)
    return param.reshape([shape[i] if i in axes else 1 for i in range(len(shape))])


def _weight(ctx: LowerCtx, attr: str, enabled: bool) -> np.ndarray | None:
    return ctx.weight(attr) if enabled and getattr(ctx.layer, attr, None) is not None else None


@lowers("LayerNormalization")
def _layer_norm(ctx: LowerCtx) -> list[Tensor]:
    """MEAN, SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, MUL, SUB, ADD | any axes but the batch axis; center and scale; rms_scaling"""
    x, layer = ctx.x, ctx.layer
    rank = len(x.shape)
    axes = tuple(sorted({int(a) % rank for a in np.ravel(layer.axis)}))
    if 0 in axes:
        raise ctx.fail(f"axis={layer.axis} is not supported (supported: any axes but the batch axis)")
    if any(x.shape[i] < 0 for i in axes):
        raise ctx.fail(f"normalized axes {axes} of shape {x.shape} must have static sizes")
    rms = bool(getattr(layer, "rms_scaling", False))
    gamma, beta = _weight(ctx, "gamma", layer.scale), _weight(ctx, "beta", layer.center and not rms)
    gamma = None if gamma is None else _broadcastable(gamma, x.shape, axes)
    beta = None if beta is None else _broadcastable(beta, x.shape, axes)
    mean, inv = _inverse_std(ctx, x, axes, float(layer.epsilon))
    if gamma is not None:
        inv = ctx.emit("MUL", [inv, ctx.const("gamma", gamma)], x.shape, "inverse_std_gamma", fused="NONE")
    if rms:  # Keras' rms_scaling (deprecated): x * inv, no centring, no beta
        return [ctx.emit("MUL", [x, inv], x.shape, "", fused="NONE")]
    scaled = ctx.emit("MUL", [x, inv], x.shape, "scaled", fused="NONE")
    shift = ctx.emit("MUL", [mean, inv], inv.shape, "mean_scaled", fused="NONE")
    if beta is None:
        return [ctx.emit("SUB", [scaled, shift], x.shape, "", fused="NONE")]
    offset = ctx.emit("SUB", [ctx.const("beta", beta), shift], inv.shape, "offset", fused="NONE")
    return [ctx.emit("ADD", [scaled, offset], x.shape, "", fused="NONE")]


@lowers("GroupNormalization")
def _group_norm(ctx: LowerCtx) -> list[Tensor]:
    """RESHAPE, MEAN, SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, MUL, SUB, MUL, ADD, RESHAPE | channels-last (axis -1), any groups; center and scale"""
    x, layer = ctx.x, ctx.layer
    rank = len(x.shape)
    if int(layer.axis) % rank != rank - 1:
        raise ctx.fail(f"axis={layer.axis} is not supported (supported: -1, the channel axis)")
    if any(d < 0 for d in x.shape[1:]):
        raise ctx.fail(
            f"input shape {x.shape} is not supported (supported: static sizes after the batch dimension)"
        )
    groups, channels = int(layer.groups), x.shape[-1]
    positions = int(np.prod(x.shape[1:-1]))
    # (B, ..., C) -> (B, positions, groups, C / groups): 4-D whatever the input rank, so every
    # broadcast stays within what the TFLite kernels take; statistics over axes 1 and 3.
    grouped = reshape(ctx, x, (-1, positions, groups, channels // groups), "grouped")
    mean, inv = _inverse_std(ctx, grouped, (1, 3), float(layer.epsilon))
    gamma, beta = _weight(ctx, "gamma", layer.scale), _weight(ctx, "beta", layer.center)
    if gamma is not None:  # folded into the (B, 1, groups, C / groups) factor: one full-size MUL fewer
        inv = ctx.emit(
            "MUL",
            [inv, ctx.const("gamma", gamma.reshape(groups, -1))],
            mean.shape[:3] + (channels // groups,),
            "scale",
            fused="NONE",
        )
    centred = ctx.emit("SUB", [grouped, mean], grouped.shape, "centred", fused="NONE")
    y = ctx.emit("MUL", [centred, inv], grouped.shape, "normalized", fused="NONE")
    if beta is not None:
        y = ctx.emit(
            "ADD", [y, ctx.const("beta", beta.reshape(groups, -1))], grouped.shape, "shifted", fused="NONE"
        )
    return [reshape(ctx, y, x.shape, "")]
