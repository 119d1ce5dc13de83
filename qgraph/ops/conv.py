"""CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: the ops with weights and a bias.

Weights are in TFLite layout: CONV_2D (out, H, W, in), DEPTHWISE_CONV_2D (1, H, W, in * m),
FULLY_CONNECTED (out, in).
"""

from __future__ import annotations

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.emit.tflite_sparse import fully_connected_refusal, sparse_block
from qgraph.errors import UnsupportedOpError
from qgraph.ops.kernels import apply_fused, keras_ops, padding
from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.tflite_options import fused, options, window_fields

_CONV_ATTRS = {"padding": REQUIRED, "stride": REQUIRED, "dilation": REQUIRED, "fused": "NONE"}


def _encode_conv(op, ctx):
    dh, dw = op.attrs["dilation"]
    o = options(S.Conv2DOptionsT, **window_fields(op), dilationHFactor=dh, dilationWFactor=dw)
    return OpEncoding("CONV_2D", 1, "Conv2DOptions", o)


def _conv_kernel(ins, a):
    ops = keras_ops()
    x, filt, bias = ins
    y = ops.conv(
        x,
        ops.transpose(filt, (1, 2, 3, 0)),
        strides=tuple(a["stride"]),
        padding=padding(a),
        dilation_rate=tuple(a["dilation"]),
    )
    return apply_fused(ops.add(y, bias), a.get("fused", "NONE"))


def _encode_depthwise(op, ctx):
    dh, dw = op.attrs["dilation"]
    o = options(
        S.DepthwiseConv2DOptionsT,
        **window_fields(op),
        depthMultiplier=op.attrs["depth_multiplier"],
        dilationHFactor=dh,
        dilationWFactor=dw,
    )
    return OpEncoding("DEPTHWISE_CONV_2D", 2 if (dh, dw) != (1, 1) else 1, "DepthwiseConv2DOptions", o)


def _depthwise_kernel(ins, a):
    ops = keras_ops()
    x, filt, bias = ins
    _, h, w, cm = filt.shape
    m = a["depth_multiplier"]
    y = ops.depthwise_conv(
        x,
        ops.reshape(filt, (h, w, cm // m, m)),
        strides=tuple(a["stride"]),
        padding=padding(a),
        dilation_rate=tuple(a["dilation"]),
    )
    return apply_fused(ops.add(y, bias), a.get("fused", "NONE"))


def _encode_fully_connected(op, ctx):
    keep = bool(op.attrs.get("keep_num_dims", False))
    o = options(
        S.FullyConnectedOptionsT,
        fusedActivationFunction=fused(op),
        weightsFormat=S.FullyConnectedOptionsWeightsFormat.DEFAULT,
        keepNumDims=keep,
        asymmetricQuantizeInputs=bool(op.attrs.get("asymmetric_quantize_inputs", False)),
    )
    return OpEncoding("FULLY_CONNECTED", 5 if keep else 1, "FullyConnectedOptions", o)


def _fully_connected_version(op, ctx, version: int) -> int:
    """op_version.cc: sparse weights make version 8, whatever else the op has. XNNPACK leaves
    version 8 to the builtin kernel, the only one that reads sparse weights."""
    x, w = ctx.graph.inputs_of(op)[:2]
    if sparse_block(w) is None:
        return version
    refusal = fully_connected_refusal(x, w)
    if refusal is not None:
        raise UnsupportedOpError(f"op {op.name!r} (FULLY_CONNECTED): {refusal}")
    return 8


def _fully_connected_kernel(ins, a):
    ops = keras_ops()
    x, w, bias = ins
    if not a.get("keep_num_dims", False) and len(x.shape) > 2:
        x = ops.reshape(x, (-1, w.shape[1]))
    return apply_fused(ops.add(ops.matmul(x, ops.transpose(w)), bias), a.get("fused", "NONE"))


OPS = [
    OpDef(
        "CONV_2D",
        "2-D convolution: (x, filter OHWI, bias) -> y",
        attrs=_CONV_ATTRS,
        weight_port=1,
        bias_port=2,
        output_channel_axis=0,
        input_channel_axis=3,
        fuses_activation=True,
        compress_port=1,
        tflite_builtin="CONV_2D",
        encode=_encode_conv,
        int8_version=3,
        hybrid_versions=(2, 5),
        min_runtime={1: "1.5.0", 2: "1.14.0", 3: "1.14.0", 5: "2.4.0"},
        kernel=_conv_kernel,
    ),
    OpDef(
        "DEPTHWISE_CONV_2D",
        "depthwise convolution: (x, filter 1HW(C*M), bias) -> y",
        attrs={**_CONV_ATTRS, "depth_multiplier": REQUIRED},
        weight_port=1,
        bias_port=2,
        output_channel_axis=3,
        input_channel_axis=3,
        fuses_activation=True,
        compress_port=1,
        compress_by_default=False,
        tflite_builtin="DEPTHWISE_CONV_2D",
        encode=_encode_depthwise,
        int8_version=3,
        hybrid_versions=(4, 6),
        min_runtime={1: "1.5.0", 2: "1.12.0", 3: "1.14.0", 4: "2.2.0", 6: "2.3.0"},
        kernel=_depthwise_kernel,
    ),
    OpDef(
        "FULLY_CONNECTED",
        "dense layer: (x, weights (out, in), bias) -> y",
        attrs={"fused": "NONE", "keep_num_dims": False, "asymmetric_quantize_inputs": False},
        weight_port=1,
        bias_port=2,
        output_channel_axis=0,
        input_channel_axis=1,
        fuses_activation=True,
        compress_port=1,
        tflite_builtin="FULLY_CONNECTED",
        encode=_encode_fully_connected,
        int8_version=4,
        hybrid_versions=(3, 12),
        version_rule=_fully_connected_version,
        min_runtime={1: "1.5.0", 3: "1.14.0", 4: "1.14.0", 5: "2.0.0", 8: "2.3.0", 12: "2.17.0"},
        kernel=_fully_connected_kernel,
    ),
]
