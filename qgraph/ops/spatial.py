"""Spatial ops: transposed convolution (Conv2DTranspose) and slicing (Cropping).

TRANSPOSE_CONV keeps TFLite's input order, (output_shape, weights OHWI, x, bias): the writer
copies ports as they are, so the data input is port 2 and the bias port 3 (`bias_port`).
"""

from __future__ import annotations

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.ops.kernels import apply_fused, keras_ops, padding
from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.tflite_options import options, window_fields


def _slice_version(op, ctx, version: int) -> int:
    """op_version.cc: SLICE on more than 4 dimensions is version 5 (TFLite 2.5)."""
    return max(version, 5) if len(ctx.graph.inputs_of(op)[0].shape) > 4 else version


def _slice_kernel(ins, a):
    x, begin, size = ins[0], [int(v) for v in ins[1]], [int(v) for v in ins[2]]
    # size -1 runs to the end of the axis (the batch axis, whose size is not known).
    return x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True))]


def _encode_transpose_conv(op, ctx):
    o = options(S.TransposeConvOptionsT, **window_fields(op))
    # op_version.cc: a fused activation needs version 4 (TFLite 2.13), a bias input version 3;
    # int8 weights alone would be version 2. `dtype_version` reads the int8 rule from input 0,
    # here the int32 output shape, so the version is settled here for every dtype.
    ins = ctx.graph.inputs_of(op)
    if op.attrs.get("fused", "NONE") != "NONE":
        version = 4
    elif len(ins) == 4:
        version = 3
    else:
        version = 2 if ins[1].dtype == "int8" else 1
    return OpEncoding("TRANSPOSE_CONV", version, "TransposeConvOptions", o)


def _output_padding(x_shape, filt_shape, strides, pad: str, wanted: list[int]):
    """None when Keras' default output size is `wanted`, else the output_padding that reaches it
    (an output shape read from a .tflite). Keras' lengths: deconv_output_length."""
    default, base = [], []
    for n, k, s in zip(x_shape[1:3], filt_shape[1:3], strides, strict=True):
        default.append(n * s + max(k - s, 0) if pad == "valid" else n * s)
        base.append((n - 1) * s + k - (2 * (k // 2) if pad == "same" else 0))
    return None if default == wanted else tuple(w - b for w, b in zip(wanted, base, strict=True))


def _transpose_conv_kernel(ins, a):
    ops = keras_ops()
    out_shape, filt, x = ins[0], ins[1], ins[2]
    strides, pad = tuple(a["stride"]), padding(a)
    extra = _output_padding(x.shape, filt.shape, strides, pad, [int(out_shape[1]), int(out_shape[2])])
    # Keras' conv_transpose kernel is (H, W, out, in); TFLite's weights are (out, H, W, in).
    y = ops.conv_transpose(x, ops.transpose(filt, (1, 2, 0, 3)), strides, pad, output_padding=extra)
    if len(ins) == 4:
        y = ops.add(y, ins[3])
    return apply_fused(y, a.get("fused", "NONE"))


OPS: list[OpDef] = [
    OpDef(
        "SLICE",
        "the block of size input 2 (-1: to the end) at offsets input 1",
        same_scale=True,
        tflite_builtin="SLICE",
        encode=lambda op, ctx: OpEncoding("SLICE", 1, "SliceOptions", S.SliceOptionsT()),
        int8_version=2,
        version_rule=_slice_version,
        min_runtime={1: "1.14.0", 2: "1.14.0", 5: "2.5.0"},
        kernel=_slice_kernel,
        tf_ops=("Slice",),
    ),
    OpDef(
        "TRANSPOSE_CONV",
        "transposed convolution: (output_shape, weights OHWI, x, bias) -> y",
        attrs={"padding": REQUIRED, "stride": REQUIRED, "fused": "NONE"},
        weight_port=1,
        bias_port=3,
        output_channel_axis=0,
        # no input_channel_axis: passes that fold a scale into a reader's input read port 0.
        fuses_activation=True,
        compress_port=1,
        tflite_builtin="TRANSPOSE_CONV",
        encode=_encode_transpose_conv,
        int8_version=2,
        min_runtime={1: "1.9.0", 2: "2.2.0", 3: "2.3.0", 4: "2.13.0"},
        kernel=_transpose_conv_kernel,
    ),
]
