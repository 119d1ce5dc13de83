"""Lowerings of the compute, merge and shape layers (conventions in `lowering.py`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from qgraph.frontend.lowering import LowerCtx, lowers, with_activation


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    return int(v[0]), int(v[1])


def _padding(ctx: LowerCtx) -> str:
    pad = ctx.layer.get_config().get("padding", "valid").upper()
    if pad not in ("SAME", "VALID"):
        raise ctx.fail(f"padding={pad.lower()!r} is not supported (only 'same' or 'valid')")
    return pad


def _check_channels_last(ctx: LowerCtx) -> None:
    fmt = ctx.layer.get_config().get("data_format") or "channels_last"
    if fmt != "channels_last":
        raise ctx.fail(f"data_format={fmt!r} is not supported (only 'channels_last', as TFLite is NHWC)")


def _bias(ctx: LowerCtx, n: int) -> np.ndarray:
    b = ctx.weight("bias") if getattr(ctx.layer, "use_bias", False) else None
    return np.zeros(n, np.float32) if b is None else b


@lowers("Conv2D")
def _conv2d(ctx):
    """CONV_2D, or DEPTHWISE_CONV_2D for one group per channel (+ activation) | padding same/valid, strides, dilation; groups 1 or = input channels; a zero bias when use_bias=False"""
    _check_channels_last(ctx)
    cfg = ctx.layer.get_config()
    kernel = ctx.weight("kernel")  # H W I/groups O
    groups = int(cfg.get("groups", 1))
    if groups != 1 and groups == ctx.x.shape[-1]:  # ConvNeXt's depthwise step: one group per channel
        h, w, _, out = kernel.shape
        spec = _depthwise(ctx, kernel.reshape(h, w, groups, out // groups), _bias(ctx, out))
        return with_activation(ctx, "DEPTHWISE_CONV_2D", spec.pop("inputs"), **spec)
    if groups != 1:
        raise ctx.fail(
            f"groups={groups} is not supported (supported: 1, or one group per input channel, "
            "which is a depthwise convolution)"
        )
    filt = np.ascontiguousarray(kernel.transpose(3, 0, 1, 2))
    ins = [ctx.x, ctx.const("kernel", filt), ctx.const("bias", _bias(ctx, filt.shape[0]))]
    return with_activation(
        ctx,
        "CONV_2D",
        ins,
        padding=_padding(ctx),
        stride=_pair(cfg["strides"]),
        dilation=_pair(cfg["dilation_rate"]),
    )


def _depthwise(ctx, kernel: np.ndarray, bias: np.ndarray, **extra):
    h, w, c, m = kernel.shape
    cfg = ctx.layer.get_config()
    ins = [
        ctx.x,
        ctx.const("depthwise_kernel", kernel.reshape(1, h, w, c * m)),
        ctx.const("depthwise_bias", bias),
    ]
    return dict(
        inputs=ins,
        padding=_padding(ctx),
        stride=_pair(cfg["strides"]),
        dilation=_pair(cfg["dilation_rate"]),
        depth_multiplier=m,
        **extra,
    )


@lowers("DepthwiseConv2D")
def _depthwise_conv2d(ctx):
    """DEPTHWISE_CONV_2D (+ activation) | any depth multiplier"""
    _check_channels_last(ctx)
    kernel = (
        ctx.weight("depthwise_kernel") if ctx.weight("depthwise_kernel") is not None else ctx.weight("kernel")
    )
    spec = _depthwise(ctx, kernel, _bias(ctx, kernel.shape[2] * kernel.shape[3]))
    return with_activation(ctx, "DEPTHWISE_CONV_2D", spec.pop("inputs"), **spec)


@lowers("SeparableConv2D")
def _separable_conv2d(ctx):
    """DEPTHWISE_CONV_2D -> CONV_2D 1x1 (+ activation) | as TFLiteConverter splits it"""
    _check_channels_last(ctx)
    dw_kernel, pw_kernel = ctx.weight("depthwise_kernel"), ctx.weight("pointwise_kernel")
    h, w, c, m = dw_kernel.shape
    spec = _depthwise(ctx, dw_kernel, np.zeros(c * m, np.float32))
    n, oh, ow, _ = ctx.out_shapes[0]
    mid = ctx.emit(
        "DEPTHWISE_CONV_2D", spec.pop("inputs"), (n, oh, ow, c * m), "depthwise", fused="NONE", **spec
    )
    filt = np.ascontiguousarray(pw_kernel.transpose(3, 0, 1, 2))
    ins = [mid, ctx.const("pointwise_kernel", filt), ctx.const("bias", _bias(ctx, filt.shape[0]))]
    return with_activation(ctx, "CONV_2D", ins, padding="VALID", stride=(1, 1), dilation=(1, 1))


@lowers("Dense")
def _dense(ctx):
    """FULLY_CONNECTED (+ activation) | rank > 2 inputs use keep_num_dims"""
    weights = np.ascontiguousarray(ctx.weight("kernel").T)  # (out, in)
    ins = [ctx.x, ctx.const("kernel", weights), ctx.const("bias", _bias(ctx, weights.shape[0]))]
    return with_activation(ctx, "FULLY_CONNECTED", ins, keep_num_dims=len(ctx.x.shape) > 2)


@lowers("BatchNormalization")
def _batchnorm(ctx):
    """BATCH_NORM | channel axis only; folded by fold_batchnorm, or lowered to MUL + ADD"""
    axis = ctx.layer.axis
    axis = axis[0] if isinstance(axis, list | tuple) and len(axis) == 1 else axis
    if axis not in (-1, len(ctx.x.shape) - 1):
        raise ctx.fail(f"BatchNormalization over axis {axis} is not supported (only the channel axis, last)")
    c = ctx.x.shape[-1]
    gamma = ctx.weight("gamma") if ctx.layer.scale else np.ones(c, np.float32)
    beta = ctx.weight("beta") if ctx.layer.center else np.zeros(c, np.float32)
    ins = [
        ctx.x,
        ctx.const("gamma", gamma),
        ctx.const("beta", beta),
        ctx.const("moving_mean", ctx.weight("moving_mean")),
        ctx.const("moving_variance", ctx.weight("moving_variance")),
    ]
    return [ctx.emit("BATCH_NORM", ins, epsilon=float(ctx.layer.epsilon), momentum=float(ctx.layer.momentum))]


@lowers("MaxPooling2D", "AveragePooling2D")
def _pool(ctx):
    """MAX_POOL_2D, AVERAGE_POOL_2D | padding same/valid, strides"""
    _check_channels_last(ctx)
    cfg = ctx.layer.get_config()
    size = _pair(cfg["pool_size"])
    stride = _pair(cfg["strides"] if cfg.get("strides") is not None else size)
    kind = "MAX_POOL_2D" if "Max" in type(ctx.layer).__name__ else "AVERAGE_POOL_2D"
    return [ctx.emit(kind, [ctx.x], filter=size, stride=stride, padding=_padding(ctx), fused="NONE")]


@lowers("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def _global_pool(ctx):
    """MEAN or REDUCE_MAX over axes 1, 2 | keepdims honoured"""
    _check_channels_last(ctx)
    keep = bool(ctx.layer.get_config().get("keepdims", False))
    kind = "MEAN" if "Average" in type(ctx.layer).__name__ else "REDUCE_MAX"
    return [ctx.emit(kind, [ctx.x, ctx.const("axes", [1, 2], "int32")], keep_dims=keep)]


def _reshape_to_output(ctx):
    """RESHAPE (static shape) | static shape after the batch dimension; no SHAPE/STRIDED_SLICE/PACK chain"""
    new_shape = (-1, *ctx.out_shapes[0][1:])
    if list(new_shape[1:]).count(-1):
        raise ctx.fail(f"reshape to {ctx.out_shapes[0]} needs a static shape after the batch dimension")
    return [ctx.emit("RESHAPE", [ctx.x, ctx.const("shape", new_shape, "int32")], new_shape=new_shape)]


lowers("Flatten", "Reshape")(_reshape_to_output)


@lowers("ZeroPadding2D")
def _zero_pad(ctx):
    """PAD | folded into a following conv by fold_pad when it equals SAME padding"""
    _check_channels_last(ctx)
    (top, bottom), (left, right) = ctx.layer.padding
    pads = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
    return [ctx.emit("PAD", [ctx.x, ctx.const("paddings", pads, "int32")])]


@lowers("Rescaling")
def _rescaling(ctx):
    """MUL and/or ADD | scalar or per-channel scale and offset"""
    scale = np.asarray(ctx.layer.scale, np.float32)
    offset = np.asarray(ctx.layer.offset, np.float32)
    y = ctx.x
    if np.any(scale != 1.0):
        y = ctx.emit(
            "MUL", [y, ctx.const("scale", scale)], suffix="scale" if np.any(offset) else "", fused="NONE"
        )
    if np.any(offset != 0.0):
        y = ctx.emit("ADD", [y, ctx.const("offset", offset)], fused="NONE")
    return [y if y is not ctx.x else ctx.emit("IDENTITY", [ctx.x])]


def _binary_chain(op_type: str):
    def lower(ctx):
        acc = ctx.inputs[0]
        for i, other in enumerate(ctx.inputs[1:], start=1):
            last = i == len(ctx.inputs) - 1
            acc = ctx.emit(
                op_type, [acc, other], suffix="" if last else f"{op_type.lower()}_{i}", fused="NONE"
            )
        return [acc]

    lower.__doc__ = f"{op_type} | n inputs become a chain of binary ops"
    return lower


lowers("Add")(_binary_chain("ADD"))
lowers("Multiply")(_binary_chain("MUL"))
lowers("Subtract")(_binary_chain("SUB"))
lowers("Maximum")(_binary_chain("MAXIMUM"))
lowers("Minimum")(_binary_chain("MINIMUM"))


@lowers("Concatenate")
def _concat(ctx):
    """CONCATENATION | any number of inputs, any axis"""
    axis = int(ctx.layer.axis)
    axis = axis if axis >= 0 else axis + len(ctx.out_shapes[0])
    return [ctx.emit("CONCATENATION", list(ctx.inputs), axis=axis, fused="NONE")]


@lowers("UpSampling2D")
def _upsample(ctx):
    """RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR (static size) | nearest or bilinear (half-pixel centres, as Keras)"""
    _check_channels_last(ctx)
    cfg = ctx.layer.get_config()
    _, h, w, _ = ctx.out_shapes[0]
    size = ctx.const("size", [h, w], "int32")
    if cfg.get("interpolation", "nearest") == "nearest":
        return [
            ctx.emit("RESIZE_NEAREST_NEIGHBOR", [ctx.x, size], align_corners=False, half_pixel_centers=False)
        ]
    if cfg["interpolation"] == "bilinear":
        return [ctx.emit("RESIZE_BILINEAR", [ctx.x, size], align_corners=False, half_pixel_centers=True)]
    raise ctx.fail(f"interpolation={cfg['interpolation']!r} is not supported (only 'nearest' or 'bilinear')")
