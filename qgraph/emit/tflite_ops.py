"""Per-op encoding for the TFLite writer: builtin code, version (op_version.cc rules for
what qgraph writes) and options object. `encode(op, ctx)` asks plugins first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qgraph.emit.schema import S
from qgraph.errors import UnsupportedOpError

if TYPE_CHECKING:
    from qgraph.emit.tflite import SerializeCtx
    from qgraph.ir import Op


@dataclass(frozen=True)
class OpEncoding:
    """How one op is written. `builtin` is a `BuiltinOperator` name; `custom_code` is set
    for custom ops instead. `options_type` names a `BuiltinOptions` member."""

    builtin: str | None
    version: int = 1
    options_type: str | None = None
    options: Any = None
    custom_code: str | None = None


ACT = {
    "NONE": S.ActivationFunctionType.NONE,
    "RELU": S.ActivationFunctionType.RELU,
    "RELU6": S.ActivationFunctionType.RELU6,
    "RELU_N1_TO_1": S.ActivationFunctionType.RELU_N1_TO_1,
}
PAD = {"SAME": S.Padding.SAME, "VALID": S.Padding.VALID}

Encoder = Callable[["Op", "SerializeCtx"], OpEncoding]
ENCODERS: dict[str, Encoder] = {}


def encoder(*types: str):
    def register(fn: Encoder) -> Encoder:
        for t in types:
            ENCODERS[t] = fn
        return fn

    return register


def _opts(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


@encoder("CONV_2D")
def _conv(op, ctx):
    (sh, sw), (dh, dw) = op.attrs["stride"], op.attrs["dilation"]
    o = _opts(
        S.Conv2DOptionsT,
        padding=PAD[op.attrs["padding"]],
        strideH=sh,
        strideW=sw,
        dilationHFactor=dh,
        dilationWFactor=dw,
        fusedActivationFunction=ACT[op.attrs.get("fused", "NONE")],
    )
    return OpEncoding("CONV_2D", 1, "Conv2DOptions", o)


@encoder("DEPTHWISE_CONV_2D")
def _depthwise(op, ctx):
    (sh, sw), (dh, dw) = op.attrs["stride"], op.attrs["dilation"]
    o = _opts(
        S.DepthwiseConv2DOptionsT,
        padding=PAD[op.attrs["padding"]],
        strideH=sh,
        strideW=sw,
        depthMultiplier=op.attrs["depth_multiplier"],
        dilationHFactor=dh,
        dilationWFactor=dw,
        fusedActivationFunction=ACT[op.attrs.get("fused", "NONE")],
    )
    return OpEncoding("DEPTHWISE_CONV_2D", 2 if (dh, dw) != (1, 1) else 1, "DepthwiseConv2DOptions", o)


@encoder("FULLY_CONNECTED")
def _fully_connected(op, ctx):
    keep = bool(op.attrs.get("keep_num_dims", False))
    o = _opts(
        S.FullyConnectedOptionsT,
        fusedActivationFunction=ACT[op.attrs.get("fused", "NONE")],
        weightsFormat=S.FullyConnectedOptionsWeightsFormat.DEFAULT,
        keepNumDims=keep,
        asymmetricQuantizeInputs=bool(op.attrs.get("asymmetric_quantize_inputs", False)),
    )
    return OpEncoding("FULLY_CONNECTED", 5 if keep else 1, "FullyConnectedOptions", o)


_BINARY_OPTIONS = {
    "ADD": ("AddOptions", S.AddOptionsT),
    "SUB": ("SubOptions", S.SubOptionsT),
    "MUL": ("MulOptions", S.MulOptionsT),
}


@encoder("ADD", "SUB", "MUL")
def _binary(op, ctx):
    name, cls = _BINARY_OPTIONS[op.type]
    return OpEncoding(
        op.type, 1, name, _opts(cls, fusedActivationFunction=ACT[op.attrs.get("fused", "NONE")])
    )


@encoder("MAXIMUM", "MINIMUM")
def _max_min(op, ctx):
    return OpEncoding(op.type, 1, "MaximumMinimumOptions", S.MaximumMinimumOptionsT())


@encoder("CONCATENATION")
def _concat(op, ctx):
    o = _opts(
        S.ConcatenationOptionsT,
        axis=op.attrs["axis"],
        fusedActivationFunction=ACT[op.attrs.get("fused", "NONE")],
    )
    return OpEncoding("CONCATENATION", 1, "ConcatenationOptions", o)


@encoder("MAX_POOL_2D", "AVERAGE_POOL_2D")
def _pool(op, ctx):
    (fh, fw), (sh, sw) = op.attrs["filter"], op.attrs["stride"]
    o = _opts(
        S.Pool2DOptionsT,
        padding=PAD[op.attrs["padding"]],
        strideH=sh,
        strideW=sw,
        filterHeight=fh,
        filterWidth=fw,
        fusedActivationFunction=ACT[op.attrs.get("fused", "NONE")],
    )
    return OpEncoding(op.type, 1, "Pool2DOptions", o)


@encoder("MEAN", "REDUCE_MAX")
def _reduce(op, ctx):
    return OpEncoding(
        op.type, 1, "ReducerOptions", _opts(S.ReducerOptionsT, keepDims=bool(op.attrs["keep_dims"]))
    )


@encoder("RESHAPE")
def _reshape(op, ctx):
    return OpEncoding(
        "RESHAPE", 1, "ReshapeOptions", _opts(S.ReshapeOptionsT, newShape=list(op.attrs["new_shape"]))
    )


@encoder("PAD")
def _pad(op, ctx):
    return OpEncoding("PAD", 1, "PadOptions", S.PadOptionsT())


@encoder("SOFTMAX")
def _softmax(op, ctx):
    return OpEncoding(
        "SOFTMAX", 1, "SoftmaxOptions", _opts(S.SoftmaxOptionsT, beta=float(op.attrs.get("beta", 1.0)))
    )


@encoder("LEAKY_RELU")
def _leaky_relu(op, ctx):
    return OpEncoding(
        "LEAKY_RELU", 1, "LeakyReluOptions", _opts(S.LeakyReluOptionsT, alpha=float(op.attrs["alpha"]))
    )


@encoder("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(op, ctx):
    half, align = bool(op.attrs.get("half_pixel_centers")), bool(op.attrs.get("align_corners"))
    name = "ResizeBilinearOptions" if op.type == "RESIZE_BILINEAR" else "ResizeNearestNeighborOptions"
    cls = S.ResizeBilinearOptionsT if op.type == "RESIZE_BILINEAR" else S.ResizeNearestNeighborOptionsT
    return OpEncoding(op.type, 3 if half else 1, name, _opts(cls, alignCorners=align, halfPixelCenters=half))


@encoder("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "QUANTIZE", "DEQUANTIZE")
def _no_options(op, ctx):
    return OpEncoding(op.type, 1)


#: int8 kernels that are version 2 (op_version.cc), unless an option asks for more.
_INT8_V2 = frozenset(
    {
        "ADD",
        "SUB",
        "MUL",
        "CONCATENATION",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "SOFTMAX",
        "MEAN",
        "REDUCE_MAX",
        "RELU",
        "RELU6",
        "LOGISTIC",
        "TANH",
        "PAD",
        "MAXIMUM",
        "MINIMUM",
        "LEAKY_RELU",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "TRANSPOSE",
        "DEQUANTIZE",
    }
)


def dtype_version(op: Op, ctx: SerializeCtx, enc: OpEncoding) -> int:
    """The op version the tensor types require (int8 kernels, hybrid weights, float16)."""
    ins = ctx.graph.inputs_of(op)
    x = ins[0].dtype if ins else "float32"
    weights = ins[1] if len(ins) > 1 else None
    version = enc.version
    if x in ("int8", "uint8"):
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            version = max(version, 3)
        elif op.type == "FULLY_CONNECTED":
            version = max(version, 4)
        elif op.type in _INT8_V2:
            version = max(version, 2)
        if op.type == "MUL" and _mul_needs_v3(ins, ctx.graph.outputs_of(op)[0]):
            version = max(version, 3)
    elif x == "float32" and weights is not None and weights.dtype == "int8":  # hybrid (dynamic range)
        per_axis = weights.quant is not None and weights.quant.axis is not None
        version = max(
            version,
            {
                "CONV_2D": 5 if per_axis else 2,
                "DEPTHWISE_CONV_2D": 6 if per_axis else 4,
                "FULLY_CONNECTED": 12 if per_axis else 3,
            }.get(op.type, version),
        )
    elif x == "float16" and op.type == "DEQUANTIZE":
        version = max(version, 3)
    return version


def _mul_needs_v3(ins, out) -> bool:
    if any(t.quant is None for t in (*ins[:2], out)):
        return False
    return float(ins[0].quant.scale[0]) * float(ins[1].quant.scale[0]) / float(out.quant.scale[0]) >= 1.0


def encode(op: Op, ctx: SerializeCtx) -> OpEncoding:
    from qgraph.plugin_manager import plugin_manager

    custom = plugin_manager().hook.qgraph_serialize_op(op=op, ctx=ctx)
    if custom is not None:
        return custom
    if op.type not in ENCODERS:
        hint = (
            " (a pre-legalization op: a pass should have rewritten it)"
            if op.type in ("BATCH_NORM", "IDENTITY")
            else ""
        )
        raise UnsupportedOpError(
            f"op {op.name!r} has type {op.type!r}, which the TFLite writer cannot encode{hint}; "
            f"supported: {', '.join(sorted(ENCODERS))}. Plugins add ops with the "
            "qgraph_serialize_op hook."
        )
    enc = ENCODERS[op.type](op, ctx)
    version = dtype_version(op, ctx, enc)
    return enc if version == enc.version else replace(enc, version=version)


#: Minimum runtime per (op, version), from TensorFlow's runtime_version.cc, for what qgraph writes.
MIN_RUNTIME = {
    ("CONV_2D", 1): "1.5.0",
    ("DEPTHWISE_CONV_2D", 1): "1.5.0",
    ("DEPTHWISE_CONV_2D", 2): "1.12.0",
    ("FULLY_CONNECTED", 1): "1.5.0",
    ("FULLY_CONNECTED", 5): "2.0.0",
    ("ADD", 1): "1.5.0",
    ("SUB", 1): "1.6.0",
    ("MUL", 1): "1.5.0",
    ("MAXIMUM", 1): "1.14.0",
    ("MINIMUM", 1): "1.14.0",
    ("CONCATENATION", 1): "1.5.0",
    ("MAX_POOL_2D", 1): "1.5.0",
    ("AVERAGE_POOL_2D", 1): "1.5.0",
    ("MEAN", 1): "1.6.0",
    ("REDUCE_MAX", 1): "1.11.0",
    ("RESHAPE", 1): "1.5.0",
    ("PAD", 1): "1.5.0",
    ("SOFTMAX", 1): "1.5.0",
    ("LEAKY_RELU", 1): "1.13.1",
    ("RESIZE_BILINEAR", 1): "1.7.0",
    ("RESIZE_BILINEAR", 3): "2.2.0",
    ("RESIZE_NEAREST_NEIGHBOR", 1): "1.13.1",
    ("RESIZE_NEAREST_NEIGHBOR", 3): "2.3.0",
    ("RELU", 1): "1.5.0",
    ("RELU6", 1): "1.5.0",
    ("RELU_N1_TO_1", 1): "1.5.0",
    ("LOGISTIC", 1): "1.5.0",
    ("TANH", 1): "1.14.0",
    ("HARD_SWISH", 1): "1.15.0",
    ("QUANTIZE", 1): "1.14.0",
    ("DEQUANTIZE", 1): "1.13.1",
    ("DEQUANTIZE", 2): "1.14.0",
    ("DEQUANTIZE", 3): "1.15.0",
    ("CONV_2D", 2): "1.14.0",
    ("CONV_2D", 3): "1.14.0",
    ("CONV_2D", 5): "2.4.0",
    ("DEPTHWISE_CONV_2D", 3): "1.14.0",
    ("DEPTHWISE_CONV_2D", 4): "2.2.0",
    ("DEPTHWISE_CONV_2D", 6): "2.3.0",
    ("FULLY_CONNECTED", 3): "1.14.0",
    ("FULLY_CONNECTED", 4): "1.14.0",
    ("FULLY_CONNECTED", 12): "2.17.0",
    ("MUL", 3): "1.15.0",
    **{(op, 2): "1.14.0" for op in _INT8_V2},
}
