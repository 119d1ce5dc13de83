"""QUANTIZE and DEQUANTIZE (type conversions at float boundaries), CAST (an integer model input
converted to float where float math reads it), DENSIFY (a sparse constant
unpacked for a kernel that reads dense weights), and the ops that exist only
before legalization: BATCH_NORM (folded or lowered by `fold_batchnorm`) and IDENTITY
(removed by `remove_identity`). The latter have no TFLite encoding: a pass must rewrite them."""

from __future__ import annotations

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.emit.tflite_sparse import sparse_block
from qgraph.errors import UnsupportedOpError
from qgraph.ops.kernels import keras_ops
from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.tflite_options import options


def _dequantize_version(op, ctx, version: int) -> int:
    """DEQUANTIZE of float16 weights is version 3 (op_version.cc)."""
    return max(version, 3) if ctx.graph.inputs_of(op)[0].dtype == "float16" else version


#: schema TensorType code <-> qgraph dtype name ("float32", "uint8", ...).
_TENSOR_TYPE_NAMES = {v: k.lower() for k, v in vars(S.TensorType).items() if not k.startswith("_")}


def _encode_cast(op, ctx):
    (src,), (dst,) = ctx.graph.inputs_of(op), ctx.graph.outputs_of(op)
    types = {name: code for code, name in _TENSOR_TYPE_NAMES.items()}
    return OpEncoding(
        "CAST",
        1,
        "CastOptions",
        options(S.CastOptionsT, inDataType=types[src.dtype], outDataType=types[dst.dtype]),
    )


def _decode_cast(o) -> dict:
    # Files without CastOptions (older converters) leave the type to the output tensor.
    return {"to": _TENSOR_TYPE_NAMES.get(o.outDataType, "float32")} if o is not None else {}


def _encode_densify(op, ctx):
    (src,) = ctx.graph.inputs_of(op)
    if src.data is None or sparse_block(src) is None:
        # LiteRT's DENSIFY refuses (densify.cc Prepare) any input but a constant with sparsity.
        raise UnsupportedOpError(
            f"op {op.name!r} (DENSIFY) reads {src.name!r}, which is not a constant stored sparse; "
            "LiteRT's DENSIFY takes only a sparse constant"
        )
    return OpEncoding("DENSIFY", 1)


def _batch_norm_kernel(ins, a):
    x, gamma, beta, mean, var = ins
    return keras_ops().batch_normalization(
        x, mean, var, axis=-1, offset=beta, scale=gamma, epsilon=a["epsilon"]
    )


def _identity(ins, a):
    # In the float simulation a requantize is the identity; QAT simulates it in its own layers.
    return ins[0]


OPS = [
    OpDef(
        "QUANTIZE",
        "float -> int8/uint8, or int8 <-> uint8 (requantize)",
        shape="same",
        tflite_builtin="QUANTIZE",
        encode=lambda op, ctx: OpEncoding("QUANTIZE", 1),
        min_runtime={1: "1.14.0"},
        kernel=_identity,
    ),
    OpDef(
        "DEQUANTIZE",
        "int8/uint8/float16 -> float",
        shape="same",
        tflite_builtin="DEQUANTIZE",
        encode=lambda op, ctx: OpEncoding("DEQUANTIZE", 1),
        int8_version=2,
        version_rule=_dequantize_version,
        min_runtime={1: "1.13.1", 2: "1.14.0", 3: "1.15.0"},
        kernel=_identity,
    ),
    OpDef(
        "CAST",
        "integer -> float32 (an integer model input read by float math; Keras promotes it so)",
        attrs={"to": "float32"},
        shape="same",
        # No int8 kernel: in an int8 graph it stays float (a QUANTIZE follows), or
        # `fold_input_cast` turns CAST + QUANTIZE of a uint8/int8 input into one requantize.
        int8=False,
        tflite_builtin="CAST",
        encode=_encode_cast,
        decode=_decode_cast,
        min_runtime={1: "1.5.0"},
        kernel=lambda ins, a: keras_ops().cast(ins[0], a.get("to", "float32")),
    ),
    OpDef(
        "DENSIFY",
        "sparse constant -> the same values, dense (for kernels without a sparse path; XNNPACK "
        "unpacks it at load and may run 1x1 convolutions sparse)",
        shape="same",
        same_scale=True,
        tflite_builtin="DENSIFY",
        encode=_encode_densify,
        min_runtime={1: "2.2.0"},
        kernel=_identity,
        targets=("cpu",),
    ),
    OpDef(
        "BATCH_NORM",
        "pre-legalization: (x, gamma, beta, mean, variance) -> normalized x",
        # momentum: the moving statistics' update rate while it trains live (qgraph.prune / cluster)
        attrs={"epsilon": REQUIRED, "momentum": 0.99},
        shape="same",
        kernel=_batch_norm_kernel,
        # the same five inputs and `epsilon` (frontend/tf_ops.py refuses is_training=True)
        tf_ops=("FusedBatchNorm", "FusedBatchNormV3"),
    ),
    OpDef(
        "IDENTITY",
        "pre-legalization: y = x (Dropout, noise, linear activations)",
        shape="same",
        kernel=_identity,
    ),
]
