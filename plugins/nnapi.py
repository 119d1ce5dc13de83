"""Target `nnapi`: Android NNAPI through the TFLite delegate. The API level (option
`api_level`, default 30) decides int8 vs uint8 and per-channel support."""

from __future__ import annotations

import dataclasses

import qgraph
from qgraph.targets import allow_cpu_option


def _concat_rank(op, graph):
    rank = len(graph.outputs_of(op)[0].shape)
    if rank > 4:
        return f"rank {rank} > 4"
    return None if op.attrs.get("fused", "NONE") == "NONE" else "fused activation on CONCATENATION"


def _softmax_rank(op, graph):
    rank = len(graph.inputs_of(op)[0].shape)
    return None if rank <= 4 else f"rank {rank} > 4"


def _for_api_level(target: qgraph.Target, options: dict) -> qgraph.Target:
    """Per-channel weights (TENSOR_QUANT8_SYMM_PER_CHANNEL) and CAST need API 29; below 30 the
    delegate shifts int8 tensors to uint8 itself, so int8 files serve every level."""
    level = options.get("api_level")
    if not isinstance(level, int) or not 27 <= level <= 36:
        raise qgraph.OptionError(
            f"api_level={level!r} is not an Android NNAPI level; use an int from 27 to 36"
        )
    rules = dict(target.rules)
    if level < 29:
        rules["CAST"] = lambda op, graph: f"CAST needs NNAPI feature level 29 (api_level={level})"
    return dataclasses.replace(target, per_axis_weights=level >= 29, rules=rules)


NNAPI = qgraph.Target(
    name="nnapi",
    description="Android NNAPI delegate (api_level 30: int8 signed, per-channel; < 30: uint8)",
    quantize_modes=("float", "int8"),
    default_quantize="float",
    ops=frozenset(
        {
            "ADD",
            "SUB",
            "MUL",
            "MAXIMUM",
            "MINIMUM",
            "AVERAGE_POOL_2D",
            "MAX_POOL_2D",
            "CONCATENATION",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
            "LOGISTIC",
            "TANH",
            "RELU",
            "RELU6",
            "RELU_N1_TO_1",
            "SOFTMAX",
            "RESHAPE",
            "PAD",
            "MEAN",
            "QUANTIZE",
            "DEQUANTIZE",
            "RESIZE_BILINEAR",
            "RESIZE_NEAREST_NEIGHBOR",
            "HARD_SWISH",
            "LEAKY_RELU",
            "REDUCE_MAX",
            "CAST",
        }
    ),
    io_dtypes=("float32", "int8", "uint8"),
    per_axis_weights=True,
    no_fused_activation=frozenset({"CONCATENATION"}),
    rules={"CONCATENATION": _concat_rank, "SOFTMAX": _softmax_rank},
    options=(
        qgraph.Option(
            "api_level",
            int,
            30,
            "Android API level of the devices (27-36): below 29 weights are per tensor; "
            "below 30 the delegate runs the int8 file as uint8",
        ),
        allow_cpu_option("NNAPI delegate"),
    ),
    configure=_for_api_level,
    # From the TFLite NNAPI delegate (shared/specs/targets.md).
    max_op_versions={
        "ADD": 2,
        "MUL": 2,
        "AVERAGE_POOL_2D": 2,
        "MAX_POOL_2D": 2,
        "CONV_2D": 5,
        "DEPTHWISE_CONV_2D": 3,
        "FULLY_CONNECTED": 5,
        "SOFTMAX": 2,
        "RESHAPE": 1,
        "CONCATENATION": 2,
        "LOGISTIC": 2,
        "RELU": 2,
        "RELU6": 2,
        "PAD": 2,
        "QUANTIZE": 2,
        "DEQUANTIZE": 2,
        "RESIZE_BILINEAR": 3,
    },
)


@qgraph.hookimpl
def qgraph_targets():
    return [NNAPI]
