"""Target `edgetpu`: Coral EdgeTPU. Fully 8-bit, tensors at most 3 non-unit dims, a fixed op
table (see shared specs/targets.md); float models cannot run on it."""

from __future__ import annotations

import qgraph
from qgraph.targets import allow_cpu_option


def _no_fused_activation(op, graph):
    if op.attrs.get("fused", "NONE") != "NONE":
        return f"fused activation {op.attrs['fused']} is not mapped by the EdgeTPU compiler"
    return None


def _same_dilation(op, graph):
    dh, dw = op.attrs.get("dilation", (1, 1))
    return None if dh == dw else f"dilation {dh}x{dw} differs in x and y"


def _not_over_batch(op, graph):
    axes = graph.inputs_of(op)[1].data
    return "reduction over the batch dimension" if axes is not None and 0 in axes.tolist() else None


EDGETPU = qgraph.Target(
    name="edgetpu",
    description="Coral EdgeTPU: full int8/uint8, static shapes, EdgeTPU op table",
    quantize_modes=("int8",),
    default_quantize="int8",
    ops=frozenset(
        {
            "ADD",
            "SUB",
            "MUL",
            "MAXIMUM",
            "MINIMUM",
            "LOGISTIC",
            "TANH",
            "RELU",
            "RELU6",
            "RELU_N1_TO_1",
            "QUANTIZE",
            "DEQUANTIZE",
            "CONCATENATION",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
            "MAX_POOL_2D",
            "AVERAGE_POOL_2D",
            "MEAN",
            "PAD",
            "RESHAPE",
            "RESIZE_BILINEAR",
            "RESIZE_NEAREST_NEIGHBOR",
            "SOFTMAX",
            "HARD_SWISH",
        }
    ),
    io_dtypes=("int8", "uint8"),
    per_axis_weights=False,
    # The EdgeTPU compiler takes static shapes only, and at most 3 dimensions above 1.
    static_batch=True,
    static_shapes=True,
    no_fused_activation=frozenset({"CONCATENATION", "MAX_POOL_2D", "AVERAGE_POOL_2D"}),
    rules={
        "CONCATENATION": _no_fused_activation,
        "MAX_POOL_2D": _no_fused_activation,
        "AVERAGE_POOL_2D": _no_fused_activation,
        "CONV_2D": _same_dilation,
        "DEPTHWISE_CONV_2D": _same_dilation,
        "MEAN": _not_over_batch,
    },
    # The EdgeTPU compiler cuts the graph at the first op it cannot map; the rest runs on the CPU.
    options=(allow_cpu_option("EdgeTPU"),),
)


@qgraph.hookimpl
def qgraph_targets():
    return [EDGETPU]
