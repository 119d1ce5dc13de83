"""Lowerings of the 1-D layers, cropping, transposed convolution and Normalization (conventions in `lowering.py`).

TFLite has no 1-D convolution or pooling: as TFLiteConverter does with EXPAND_DIMS/SQUEEZE,
a (N, L, C) input is reshaped to (N, 1, L, C), the 2-D op runs with a 1-high window, and the
result is reshaped back. RESHAPE keeps the int8 scale, so this costs no accuracy.
"""

from __future__ import annotations

import numpy as np

from qgraph.frontend.keras_layers_nn import _bias, _check_channels_last
from qgraph.frontend.lowering import LowerCtx, act_name, activation, lowers, with_activation
from qgraph.ir import Tensor


def _reshape(ctx: LowerCtx, x: Tensor, shape: tuple[int, ...], suffix: str) -> Tensor:
    const = ctx.const(f"{suffix or 'output'}_shape", shape, "int32")
    return ctx.emit("RESHAPE", [x, const], shape, suffix, new_shape=shape)


def _static_length(ctx: LowerCtx, shape: tuple[int, ...]) -> None:
    if any(d < 0 for d in shape[1:]):
        raise ctx.fail(f"shape {shape} is not supported (supported: static sizes after the batch dimension)")


def _padding_1d(ctx: LowerCtx) -> str:
    pad = ctx.layer.get_config().get("padding", "valid").lower()
    if pad not in ("same", "valid", "causal"):
        raise ctx.fail(f"padding={pad!r} is not supported (supported: 'same', 'valid', 'causal')")
    return pad


def _to_2d(ctx: LowerCtx) -> tuple[Tensor, str]:
    """x (N, L, C), after any causal left padding, as (N, 1, L, C); and the 2-D padding mode."""
    _check_channels_last(ctx)
    _static_length(ctx, ctx.x.shape)
    cfg, x = ctx.layer.get_config(), ctx.x
    pad = _padding_1d(ctx)
    if pad == "causal":  # Keras pads (kernel - 1) * dilation steps on the left, then runs 'valid'
        left = int(cfg["dilation_rate"][0]) * (int(cfg["kernel_size"][0]) - 1)
        pads = np.array([[0, 0], [left, 0], [0, 0]], np.int32)
        n, length, c = x.shape
        x = ctx.emit("PAD", [x, ctx.const("causal_pad", pads, "int32")], (n, length + left, c), "causal_pad")
        pad = "valid"
    n, length, c = x.shape
    return _reshape(ctx, x, (-1, 1, length, c), "expand"), pad.upper()


def _from_2d(ctx: LowerCtx, op_type: str, inputs: list[Tensor], **attrs) -> list[Tensor]:
    """op_type on the (N, 1, L, C) input, its activation, and the reshape back to the layer's output."""
    _, length, c = ctx.out_shapes[0]
    y = ctx.emit(op_type, inputs, (-1, 1, length, c), op_type.lower(), **attrs)
    y = activation(ctx, act_name(ctx.layer), y, "act")
    return [_reshape(ctx, y, (-1, length, c), "")]


def _window(ctx: LowerCtx) -> dict:
    cfg = ctx.layer.get_config()
    return dict(stride=(1, int(cfg["strides"][0])), dilation=(1, int(cfg["dilation_rate"][0])))


def _depthwise(ctx: LowerCtx, x: Tensor, pad: str, kernel: np.ndarray, bias: np.ndarray) -> tuple[list, dict]:
    """DEPTHWISE_CONV_2D's inputs and attrs for a Keras (K, C, M) kernel: filter (1, 1, K, C * M)."""
    k, c, m = kernel.shape
    ins = [
        x,
        ctx.const("depthwise_kernel", kernel.reshape(1, 1, k, c * m)),
        ctx.const("depthwise_bias", bias),
    ]
    return ins, dict(padding=pad, depth_multiplier=m, fused="NONE", **_window(ctx))


@lowers("Conv1D")
def _conv1d(ctx):
    """RESHAPE -> CONV_2D -> RESHAPE (+ activation; PAD first for causal) | padding same/valid/causal, strides, dilation; no groups"""
    cfg = ctx.layer.get_config()
    if cfg.get("groups", 1) != 1:
        raise ctx.fail(f"groups={cfg['groups']} (grouped convolution) is not supported (supported: groups=1)")
    x, pad = _to_2d(ctx)
    kernel = ctx.weight("kernel")  # (K, I, O) -> OHWI (O, 1, K, I)
    filt = np.ascontiguousarray(kernel.transpose(2, 0, 1)[:, None])
    ins = [x, ctx.const("kernel", filt), ctx.const("bias", _bias(ctx, filt.shape[0]))]
    return _from_2d(ctx, "CONV_2D", ins, padding=pad, fused="NONE", **_window(ctx))


@lowers("DepthwiseConv1D")
def _depthwise_conv1d(ctx):
    """RESHAPE -> DEPTHWISE_CONV_2D -> RESHAPE (+ activation) | padding same/valid, strides, dilation, depth_multiplier"""
    x, pad = _to_2d(ctx)
    kernel = ctx.weight("kernel") if ctx.weight("kernel") is not None else ctx.weight("depthwise_kernel")
    ins, attrs = _depthwise(ctx, x, pad, kernel, _bias(ctx, kernel.shape[1] * kernel.shape[2]))
    return _from_2d(ctx, "DEPTHWISE_CONV_2D", ins, **attrs)


@lowers("SeparableConv1D")
def _separable_conv1d(ctx):
    """RESHAPE -> DEPTHWISE_CONV_2D -> CONV_2D 1x1 -> RESHAPE (+ activation) | padding same/valid, strides, dilation, depth_multiplier"""
    x, pad = _to_2d(ctx)
    dw, pw = ctx.weight("depthwise_kernel"), ctx.weight("pointwise_kernel")
    ins, attrs = _depthwise(ctx, x, pad, dw, np.zeros(pw.shape[1], np.float32))
    mid = ctx.emit("DEPTHWISE_CONV_2D", ins, (-1, 1, ctx.out_shapes[0][1], pw.shape[1]), "depthwise", **attrs)
    filt = np.ascontiguousarray(pw.transpose(2, 0, 1)[:, None])  # (1, C*M, O) -> (O, 1, 1, C*M)
    ins = [mid, ctx.const("pointwise_kernel", filt), ctx.const("bias", _bias(ctx, filt.shape[0]))]
    return _from_2d(ctx, "CONV_2D", ins, padding="VALID", stride=(1, 1), dilation=(1, 1), fused="NONE")


@lowers("MaxPooling1D", "AveragePooling1D")
def _pool1d(ctx):
    """RESHAPE -> MAX_POOL_2D|AVERAGE_POOL_2D -> RESHAPE | pool_size, strides, padding same/valid"""
    cfg = ctx.layer.get_config()
    x, pad = _to_2d(ctx)
    size = int(cfg["pool_size"][0])
    stride = int(cfg["strides"][0]) if cfg.get("strides") is not None else size
    kind = "MAX_POOL_2D" if "Max" in type(ctx.layer).__name__ else "AVERAGE_POOL_2D"
    return _from_2d(ctx, kind, [x], filter=(1, size), stride=(1, stride), padding=pad, fused="NONE")


@lowers("GlobalAveragePooling1D", "GlobalMaxPooling1D")
def _global_pool1d(ctx):
    """MEAN|REDUCE_MAX over the steps axis | keepdims; no mask"""
    _check_channels_last(ctx)
    if ctx.kwargs.get("mask") is not None:
        raise ctx.fail("a mask is not supported (supported: unmasked inputs)")
    keep = bool(ctx.layer.get_config().get("keepdims", False))
    kind = "MEAN" if "Average" in type(ctx.layer).__name__ else "REDUCE_MAX"
    return [ctx.emit(kind, [ctx.x, ctx.const("axes", [1], "int32")], keep_dims=keep)]


@lowers("UpSampling1D")
def _upsample1d(ctx):
    """RESHAPE -> RESIZE_NEAREST_NEIGHBOR -> RESHAPE | size (each step repeated)"""
    x, _ = _to_2d(ctx)
    size = ctx.const("size", [1, ctx.out_shapes[0][1]], "int32")
    # An integer factor without half-pixel centers: nearest neighbour is exactly Keras' repeat.
    return _from_2d(ctx, "RESIZE_NEAREST_NEIGHBOR", [x, size], align_corners=False, half_pixel_centers=False)


@lowers("ZeroPadding1D")
def _zero_pad1d(ctx):
    """PAD | padding (left, right)"""
    _check_channels_last(ctx)
    left, right = (int(p) for p in ctx.layer.padding)
    pads = np.array([[0, 0], [left, right], [0, 0]], np.int32)
    return [ctx.emit("PAD", [ctx.x, ctx.const("paddings", pads, "int32")])]


@lowers("Cropping1D", "Cropping2D")
def _cropping(ctx):
    """SLICE | cropping per spatial axis; channels_last"""
    _check_channels_last(ctx)
    crops = ctx.layer.cropping
    crops = [crops] if isinstance(crops[0], int | np.integer) else list(crops)  # 1-D: (left, right)
    out = ctx.out_shapes[0]
    _static_length(ctx, out)
    begin = ctx.const("begin", [0, *(int(before) for before, _ in crops), 0], "int32")
    return [ctx.emit("SLICE", [ctx.x, begin, ctx.const("size", [-1, *out[1:]], "int32")])]


@lowers("Conv2DTranspose")
def _conv2d_transpose(ctx):
    """TRANSPOSE_CONV (+ activation) | padding same/valid, strides; no dilation, no output_padding"""
    _check_channels_last(ctx)
    cfg = ctx.layer.get_config()
    if cfg.get("output_padding") is not None:
        raise ctx.fail(f"output_padding={cfg['output_padding']} is not supported (supported: None)")
    if tuple(cfg["dilation_rate"]) != (1, 1):
        raise ctx.fail(f"dilation_rate={cfg['dilation_rate']} is not supported (supported: 1)")
    pad = cfg["padding"].upper()
    if pad not in ("SAME", "VALID"):
        raise ctx.fail(f"padding={cfg['padding']!r} is not supported (supported: 'same', 'valid')")
    out = ctx.out_shapes[0]
    _static_length(ctx, out)
    filt = np.ascontiguousarray(ctx.weight("kernel").transpose(2, 0, 1, 3))  # (H, W, O, I) -> OHWI
    # The file runs at batch 1 (as written); TFLite takes the output shape as data.
    ins = [
        ctx.const("output_shape", [1, *out[1:]], "int32"),
        ctx.const("kernel", filt),
        ctx.x,
        ctx.const("bias", _bias(ctx, filt.shape[0])),
    ]
    return with_activation(ctx, "TRANSPOSE_CONV", ins, padding=pad, stride=tuple(cfg["strides"]))


def _epsilon(layer) -> float:
    """The backend epsilon the layer's framework divides with (tf-keras has its own setting)."""
    if type(layer).__module__.startswith("tf_keras"):
        import tf_keras

        return tf_keras.backend.epsilon()
    import keras

    return keras.config.epsilon()


@lowers("Normalization")
def _normalization(ctx):
    """SUB -> MUL (invert: MUL -> ADD) with constants | any axis, invert, adapted or given mean/variance"""
    import keras

    layer = ctx.layer
    if getattr(layer, "mean", None) is None:
        raise ctx.fail("the layer has no mean/variance yet (supported: a built layer, adapted or given them)")
    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), np.float32)
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), np.float32)
    # Keras divides by max(sqrt(variance), epsilon); constants keep its broadcast shape.
    std = np.maximum(np.sqrt(variance), np.float32(_epsilon(layer))).astype(np.float32)
    steps = [("MUL", "std", std, 1.0), ("ADD", "mean", mean, 0.0)]
    if not layer.invert:
        steps = [("SUB", "mean", mean, 0.0), ("MUL", "inverse_std", (1.0 / std).astype(np.float32), 1.0)]
    steps = [s for s in steps if np.any(s[2] != s[3])]  # skip a no-op step (mean 0, variance 1)
    y = ctx.x
    for i, (op_type, name, value, _) in enumerate(steps):
        last = i == len(steps) - 1  # the layer's output op takes the layer's name
        y = ctx.emit(op_type, [y, ctx.const(name, value)], suffix="" if last else name, fused="NONE")
    return [y if y is not ctx.x else ctx.emit("IDENTITY", [ctx.x])]
