"""What each IR op computes, written with `keras.ops` (the same calls Keras layers make, so
the emitted model matches the original to round-off). Weights arrive in TFLite layout.

A kernel is `fn(inputs, attrs) -> tensor`; `inputs` holds every port (activations,
weights and constants) in port order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

Kernel = Callable[[list[Any], dict[str, Any]], Any]
KERNELS: dict[str, Kernel] = {}


def kernel(*types: str):
    def register(fn: Kernel) -> Kernel:
        for t in types:
            KERNELS[t] = fn
        return fn

    return register


def fused(y, name: str):
    """Apply a TFLite fused activation."""
    if name == "NONE":
        return y
    if name == "RELU":
        return ops.relu(y)
    if name == "RELU6":
        return ops.relu6(y)
    if name == "RELU_N1_TO_1":
        return ops.clip(y, -1.0, 1.0)
    raise ValueError(f"unknown fused activation {name!r}")


def _padding(attrs) -> str:
    return attrs["padding"].lower()


@kernel("CONV_2D")
def _conv(ins, a):
    x, filt, bias = ins
    y = ops.conv(
        x,
        ops.transpose(filt, (1, 2, 3, 0)),
        strides=tuple(a["stride"]),
        padding=_padding(a),
        dilation_rate=tuple(a["dilation"]),
    )
    return fused(ops.add(y, bias), a.get("fused", "NONE"))


@kernel("DEPTHWISE_CONV_2D")
def _depthwise(ins, a):
    x, filt, bias = ins
    _, h, w, cm = filt.shape
    m = a["depth_multiplier"]
    dk = ops.reshape(filt, (h, w, cm // m, m))
    y = ops.depthwise_conv(
        x, dk, strides=tuple(a["stride"]), padding=_padding(a), dilation_rate=tuple(a["dilation"])
    )
    return fused(ops.add(y, bias), a.get("fused", "NONE"))


@kernel("FULLY_CONNECTED")
def _fully_connected(ins, a):
    x, w, bias = ins
    if not a.get("keep_num_dims", False) and len(x.shape) > 2:
        x = ops.reshape(x, (-1, w.shape[1]))
    return fused(ops.add(ops.matmul(x, ops.transpose(w)), bias), a.get("fused", "NONE"))


@kernel("BATCH_NORM")
def _batch_norm(ins, a):
    x, gamma, beta, mean, var = ins
    return ops.batch_normalization(x, mean, var, axis=-1, offset=beta, scale=gamma, epsilon=a["epsilon"])


_BINARY = {
    "ADD": ops.add,
    "SUB": ops.subtract,
    "MUL": ops.multiply,
    "MAXIMUM": ops.maximum,
    "MINIMUM": ops.minimum,
}


def _binary_kernel(fn) -> Kernel:
    return lambda ins, a: fused(fn(ins[0], ins[1]), a.get("fused", "NONE"))


for _t, _fn in _BINARY.items():
    KERNELS[_t] = _binary_kernel(_fn)


@kernel("CONCATENATION")
def _concat(ins, a):
    return fused(ops.concatenate(list(ins), axis=a["axis"]), a.get("fused", "NONE"))


KERNELS["MAX_POOL_2D"] = lambda ins, a: fused(
    ops.max_pool(ins[0], tuple(a["filter"]), tuple(a["stride"]), _padding(a)), a.get("fused", "NONE")
)
KERNELS["AVERAGE_POOL_2D"] = lambda ins, a: fused(
    ops.average_pool(ins[0], tuple(a["filter"]), tuple(a["stride"]), _padding(a)), a.get("fused", "NONE")
)


@kernel("MEAN")
def _mean(ins, a):
    return ops.mean(ins[0], axis=tuple(int(v) for v in ins[1]), keepdims=a["keep_dims"])


@kernel("REDUCE_MAX")
def _reduce_max(ins, a):
    return ops.max(ins[0], axis=tuple(int(v) for v in ins[1]), keepdims=a["keep_dims"])


@kernel("RESHAPE")
def _reshape(ins, a):
    return ops.reshape(ins[0], (-1, *[int(d) for d in ins[1]][1:]))


@kernel("PAD")
def _pad(ins, a):
    return ops.pad(ins[0], [[int(p) for p in row] for row in ins[1]])


def _activation_kernel(name: str) -> Kernel:
    return lambda ins, a: fused(ins[0], name)


for _t in ("RELU", "RELU6", "RELU_N1_TO_1"):
    KERNELS[_t] = _activation_kernel(_t)

KERNELS["LEAKY_RELU"] = lambda ins, a: ops.leaky_relu(ins[0], negative_slope=a["alpha"])
KERNELS["LOGISTIC"] = lambda ins, a: ops.sigmoid(ins[0])
KERNELS["TANH"] = lambda ins, a: ops.tanh(ins[0])
KERNELS["HARD_SWISH"] = lambda ins, a: ops.hard_swish(ins[0])
KERNELS["IDENTITY"] = lambda ins, a: ins[0]
# In the float simulation a requantize is the identity; fake-quant simulation lives in the QAT layers.
KERNELS["QUANTIZE"] = lambda ins, a: ins[0]
KERNELS["DEQUANTIZE"] = lambda ins, a: ins[0]
KERNELS["SOFTMAX"] = lambda ins, a: ops.softmax(
    ins[0] if a.get("beta", 1.0) == 1.0 else ins[0] * a["beta"], axis=-1
)


@kernel("RESIZE_NEAREST_NEIGHBOR")
def _resize_nearest(ins, a):
    x, (oh, ow) = ins[0], (int(v) for v in ins[1])
    h, w = x.shape[1], x.shape[2]
    if a.get("align_corners") or a.get("half_pixel_centers") or oh % h or ow % w:
        return keras.ops.image.resize(x, (oh, ow), interpolation="nearest")
    # Integer factors without half-pixel centers: exactly a repeat (what UpSampling2D does).
    return ops.repeat(ops.repeat(x, oh // h, axis=1), ow // w, axis=2)


@kernel("RESIZE_BILINEAR")
def _resize_bilinear(ins, a):
    if a.get("align_corners") or not a.get("half_pixel_centers", False):
        raise ValueError("RESIZE_BILINEAR is emitted only with half_pixel_centers=True, align_corners=False")
    return keras.ops.image.resize(ins[0], tuple(int(v) for v in ins[1]), interpolation="bilinear")
