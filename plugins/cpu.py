"""Target `cpu`: TFLite builtin kernels and XNNPACK. Float, float16, dynamic range, and full
int8 with per-channel weights and float I/O by default."""

from __future__ import annotations

import qgraph

FLOAT_OPS = frozenset(
    {
        "ADD",
        "SUB",
        "MUL",
        "MAXIMUM",
        "MINIMUM",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "MEAN",
        "REDUCE_MAX",
        "PAD",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "SLICE",
        "TRANSPOSE_CONV",
        "LOGISTIC",
        "TANH",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "LEAKY_RELU",
        "SOFTMAX",
        "BATCH_MATMUL",
        "TRANSPOSE",
        "TILE",
        "BROADCAST_TO",
        "SQUARED_DIFFERENCE",
        "DIV",
        "SUM",
        "RSQRT",
        "SQRT",
        "EXP",
        "GELU",
        "HARD_SWISH",
        "GATHER",
        "REVERSE_V2",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "QUANTIZE",
        "DEQUANTIZE",
        "CAST",
    }
)

CPU = qgraph.Target(
    name="cpu",
    description="TFLite CPU (builtin kernels + XNNPACK): float32; int8 per-channel weights",
    quantize_modes=("float", "dynamic", "float16", "int8"),
    default_quantize="float",
    ops=FLOAT_OPS,
    io_dtypes=("float32", "int8", "uint8"),
    per_axis_weights=True,
)


@qgraph.hookimpl
def qgraph_targets():
    return [CPU]
