"""Lowerings of the activation and identity layers (conventions in `lowering.py`)."""

from __future__ import annotations

from qgraph.frontend.keras_layers_shuffle import softmax_over
from qgraph.frontend.lowering import act_name, activation, lowers


@lowers("Activation")
def _activation_layer(ctx):
    """see Activations below | `linear` becomes IDENTITY (removed)"""
    out = activation(ctx, act_name(ctx.layer), ctx.x)
    return [out if out is not ctx.x else ctx.emit("IDENTITY", [ctx.x])]


@lowers("ReLU")
def _relu(ctx):
    """RELU, RELU6 or LEAKY_RELU | max_value None or 6; negative_slope without max_value; threshold 0"""
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
    """LEAKY_RELU |"""
    alpha = ctx.layer.get_config().get("negative_slope", ctx.layer.get_config().get("alpha", 0.3))
    return [ctx.emit("LEAKY_RELU", [ctx.x], alpha=float(alpha))]


@lowers("Softmax")
def _softmax(ctx):
    """SOFTMAX (TRANSPOSE and RESHAPE around it for other axes) | any axes but the batch axis; no mask"""
    if ctx.kwargs.get("mask") is not None or len(ctx.args) > 1:
        raise ctx.fail("a Softmax mask is not supported (supported: unmasked inputs)")
    axis = ctx.layer.get_config().get("axis", -1)
    return [softmax_over(ctx, ctx.x, tuple(axis) if isinstance(axis, list | tuple) else (axis,))]


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
    """IDENTITY | removed by remove_identity: computes nothing at inference"""
    return [ctx.emit("IDENTITY", [ctx.x])]


@lowers("keras.src.ops.core.Cast")
def _cast(ctx):
    """CAST (integer inputs), else IDENTITY | keras.ops.cast to float32 (an integer model input read as float); other dtypes refused"""
    import keras

    dtype = keras.backend.standardize_dtype(ctx.layer.dtype)
    if dtype != "float32":
        raise ctx.fail(
            f"a cast to {dtype} is not supported (supported: keras.ops.cast(x, 'float32'); qgraph "
            "computes in float32 and casts integer model inputs itself)"
        )
    # The frontend already cast an integer input to float32 before this lowering (keras.py).
    return [ctx.emit("IDENTITY", [ctx.x])]
