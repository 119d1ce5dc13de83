"""Lowerings of the activation and identity layers (conventions in `lowering.py`)."""

from __future__ import annotations

from qgraph.frontend.lowering import act_name, activation, lowers


@lowers("Activation")
def _activation_layer(ctx):
    out = activation(ctx, act_name(ctx.layer), ctx.x)
    return [out if out is not ctx.x else ctx.emit("IDENTITY", [ctx.x])]


@lowers("ReLU")
def _relu(ctx):
    cfg = ctx.layer.get_config()
    max_value, slope, threshold = (
        cfg.get("max_value"),
        cfg.get("negative_slope", 0.0),
        cfg.get("threshold", 0.0),
    )
    if threshold:
        raise ctx.fail(f"ReLU threshold={threshold} is not supported (only 0)")
    if slope and max_value is None:
        return [ctx.emit("LEAKY_RELU", [ctx.x], alpha=float(slope))]
    if slope:
        raise ctx.fail("ReLU with both negative_slope and max_value is not supported")
    if max_value is None:
        return [ctx.emit("RELU", [ctx.x])]
    if float(max_value) == 6.0:
        return [ctx.emit("RELU6", [ctx.x])]
    raise ctx.fail(f"ReLU max_value={max_value} is not supported (only None or 6)")


@lowers("LeakyReLU")
def _leaky(ctx):
    alpha = ctx.layer.get_config().get("negative_slope", ctx.layer.get_config().get("alpha", 0.3))
    return [ctx.emit("LEAKY_RELU", [ctx.x], alpha=float(alpha))]


@lowers("Softmax")
def _softmax(ctx):
    axis = ctx.layer.get_config().get("axis", -1)
    axis = axis[0] if isinstance(axis, list | tuple) and len(axis) == 1 else axis
    if axis not in (-1, len(ctx.x.shape) - 1):
        raise ctx.fail(f"Softmax over axis {axis} is not supported (only the last axis)")
    return [ctx.emit("SOFTMAX", [ctx.x], beta=1.0)]


@lowers(
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)
def _identity(ctx):
    return [ctx.emit("IDENTITY", [ctx.x])]
