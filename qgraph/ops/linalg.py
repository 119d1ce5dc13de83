"""Linear-algebra, reduction and math ops used by normalization and attention layers:
BATCH_MATMUL, TRANSPOSE, TILE, BROADCAST_TO, SQUARED_DIFFERENCE, DIV, SUM, RSQRT, SQRT, EXP, GELU.

Versions and runtimes follow op_version.cc / runtime_version.cc. TRANSPOSE, TILE and
BROADCAST_TO move int8 bytes, so their output keeps the input's parameters (`same_scale`);
the others rescale and get their own calibrated output range. DIV has no int8 kernel (uint8
only): in an int8 graph it stays a float island.
"""

from __future__ import annotations

import numpy as np

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.ops.kernels import apply_fused, keras_ops
from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.tflite_options import decode_options, fused, options


def _rank(op, ctx, port: int = 0) -> int:
    return len(ctx.graph.inputs_of(op)[port].shape)


def _transpose_version(op, ctx, version: int) -> int:
    """op_version.cc: TRANSPOSE of more than 4 dimensions is version 4, of more than 5 version 6."""
    rank = _rank(op, ctx)
    return max(version, 6 if rank > 5 else 4 if rank > 4 else version)


def _div_version(op, ctx, version: int) -> int:
    """op_version.cc: DIV broadcasting over more than 4 dimensions is version 2."""
    a, b = ctx.graph.inputs_of(op)[:2]
    return max(version, 2) if a.shape != b.shape and max(len(a.shape), len(b.shape)) > 4 else version


def _encode_batch_matmul(op, ctx):
    o = options(
        S.BatchMatMulOptionsT,
        adjX=bool(op.attrs.get("adj_x", False)),
        adjY=bool(op.attrs.get("adj_y", False)),
        asymmetricQuantizeInputs=False,
    )
    return OpEncoding("BATCH_MATMUL", 1, "BatchMatMulOptions", o)


def _decode_batch_matmul(o) -> dict:
    return {"adj_x": bool(getattr(o, "adjX", False)), "adj_y": bool(getattr(o, "adjY", False))}


def _batch_matmul_kernel(ins, a):
    ops = keras_ops()
    x, y = ins[0], ins[1]
    if a.get("adj_x"):
        x = ops.swapaxes(x, -1, -2)
    if a.get("adj_y"):
        y = ops.swapaxes(y, -1, -2)
    return ops.matmul(x, y)


def _shape_input(ins) -> list[int]:
    return [int(v) for v in np.ravel(ins[1])]


def _broadcast_to_kernel(ins, a):
    ops = keras_ops()
    shape = _shape_input(ins)
    # The batch dimension is not known when the graph is written (-1 or 1 in the file): keep the input's.
    return ops.broadcast_to(ins[0], (ops.shape(ins[0])[0], *shape[1:]))


def _simple(op_type: str, options_type: str | None = None, cls: type | None = None):
    """An encoder for an op whose options table is empty (or absent)."""
    if cls is None:
        return lambda op, ctx: OpEncoding(op_type, 1)
    return lambda op, ctx: OpEncoding(op_type, 1, options_type, cls())


def _unary(op_type: str, doc: str, kernel, runtimes: dict[int, str], tf_op: str) -> OpDef:
    return OpDef(
        op_type,
        doc,
        shape="same",
        tflite_builtin=op_type,
        encode=_simple(op_type),
        int8_version=2,
        min_runtime=runtimes,
        kernel=kernel,
        tf_ops=(tf_op,),
    )


def _encode_sum(op, ctx):
    return OpEncoding(
        "SUM", 1, "ReducerOptions", options(S.ReducerOptionsT, keepDims=bool(op.attrs["keep_dims"]))
    )


def _encode_div(op, ctx):
    return OpEncoding("DIV", 1, "DivOptions", options(S.DivOptionsT, fusedActivationFunction=fused(op)))


def _encode_gelu(op, ctx):
    o = options(S.GeluOptionsT, approximate=bool(op.attrs.get("approximate", False)))
    return OpEncoding("GELU", 1, "GeluOptions", o)


def _decode_gelu(o) -> dict:
    return {**decode_options(o), "approximate": bool(getattr(o, "approximate", False))}


OPS: list[OpDef] = [
    OpDef(
        "BATCH_MATMUL",
        "x @ y over the last two axes, leading axes broadcast; adj_x / adj_y transpose them first",
        attrs={"adj_x": False, "adj_y": False},
        tflite_builtin="BATCH_MATMUL",
        encode=_encode_batch_matmul,
        decode=_decode_batch_matmul,
        int8_version=2,
        min_runtime={1: "2.3.0", 2: "2.3.0"},
        kernel=_batch_matmul_kernel,
        tf_ops=("BatchMatMulV2", "BatchMatMulV3"),  # adj_x / adj_y: TF's attribute names
    ),
    OpDef(
        "TRANSPOSE",
        "axes permuted by the int32 permutation in input 1",
        same_scale=True,
        tflite_builtin="TRANSPOSE",
        encode=_simple("TRANSPOSE", "TransposeOptions", S.TransposeOptionsT),
        int8_version=2,
        version_rule=_transpose_version,
        min_runtime={1: "1.6.0", 2: "1.14.0", 4: "2.3.0", 6: "2.12.0"},
        kernel=lambda ins, a: keras_ops().transpose(ins[0], tuple(int(v) for v in np.ravel(ins[1]))),
        tf_ops=("Transpose",),
    ),
    OpDef(
        "TILE",
        "input 0 repeated along each axis the number of times in input 1",
        same_scale=True,
        tflite_builtin="TILE",
        encode=_simple("TILE", "TileOptions", S.TileOptionsT),
        int8_version=3,
        min_runtime={1: "1.10.1", 3: "2.8.0"},
        kernel=lambda ins, a: keras_ops().tile(ins[0], _shape_input(ins)),
        tf_ops=("Tile",),
    ),
    OpDef(
        "BROADCAST_TO",
        "input 0 broadcast to the shape in input 1 (version 1 was withdrawn: base version 2)",
        same_scale=True,
        tflite_builtin="BROADCAST_TO",
        encode=lambda op, ctx: OpEncoding("BROADCAST_TO", 2, "BroadcastToOptions", S.BroadcastToOptionsT()),
        int8_version=3,
        min_runtime={2: "2.5.0", 3: "2.5.0"},
        # no tf_ops: a traced BroadcastTo's shape holds the batch, which a TFLite shape cannot leave open
        kernel=_broadcast_to_kernel,
    ),
    OpDef(
        "SQUARED_DIFFERENCE",
        "(x - y)^2 with broadcasting",
        tflite_builtin="SQUARED_DIFFERENCE",
        encode=_simple("SQUARED_DIFFERENCE", "SquaredDifferenceOptions", S.SquaredDifferenceOptionsT),
        int8_version=2,
        min_runtime={1: "1.13.1", 2: "2.5.0"},
        kernel=lambda ins, a: keras_ops().square(keras_ops().subtract(ins[0], ins[1])),
        tf_ops=("SquaredDifference",),
    ),
    OpDef(
        "DIV",
        "x / y with broadcasting and a fused activation; no int8 kernel (float island in int8 graphs)",
        attrs={"fused": "NONE"},
        fuses_activation=True,
        int8=False,
        tflite_builtin="DIV",
        encode=_encode_div,
        version_rule=_div_version,
        min_runtime={1: "1.6.0", 2: "2.3.0"},
        kernel=lambda ins, a: apply_fused(keras_ops().divide(ins[0], ins[1]), a.get("fused", "NONE")),
        tf_ops=("RealDiv",),
    ),
    OpDef(
        "SUM",
        "sum over the axes in input 1",
        attrs={"keep_dims": REQUIRED},
        tflite_builtin="SUM",
        encode=_encode_sum,
        int8_version=2,
        min_runtime={1: "1.10.0", 2: "1.15.0"},
        kernel=lambda ins, a: keras_ops().sum(
            ins[0], axis=tuple(int(v) for v in np.ravel(ins[1])), keepdims=a["keep_dims"]
        ),
        tf_ops=("Sum",),  # (x, axes) and TF's `keep_dims` attribute
    ),
    # int8 RSQRT reads only values >= 0 (its kernel refuses below the zero point, maps 0 to the top).
    _unary(
        "RSQRT",
        "1 / sqrt(x)",
        lambda ins, a: keras_ops().rsqrt(ins[0]),
        {1: "1.10.0", 2: "2.5.0"},
        "Rsqrt",
    ),
    _unary("SQRT", "sqrt(x)", lambda ins, a: keras_ops().sqrt(ins[0]), {1: "1.10.0", 2: "2.21.0"}, "Sqrt"),
    _unary("EXP", "e^x", lambda ins, a: keras_ops().exp(ins[0]), {1: "1.7.0", 2: "2.12.0"}, "Exp"),
    OpDef(
        "GELU",
        "x * Phi(x): the exact erf form, or the tanh form with approximate=True",
        attrs={"approximate": False},
        shape="same",
        tflite_builtin="GELU",
        encode=_encode_gelu,
        decode=_decode_gelu,
        int8_version=2,
        min_runtime={1: "2.9.0", 2: "2.9.0"},
        kernel=lambda ins, a: keras_ops().gelu(ins[0], approximate=bool(a.get("approximate", False))),
    ),
]
