"""PAD(x, zeros on H/W) -> CONV_2D|DEPTHWISE_CONV_2D(padding=VALID)  =>  CONV_2D|DEPTHWISE_CONV_2D(x, padding=SAME)

Keras applications pad explicitly before strided convolutions (MobileNet's
`correct_pad`); when the explicit padding is exactly what SAME padding would add for the
conv's input, the PAD op is redundant, as TFLiteConverter also finds. Anything else
(ResNet's 3-pixel pad before a 7x7/2 conv, pads on batch or channels, a PAD read by
another op) is left alone, and the reason logged.

    >>> FoldPad().run(graph, ctx)  # PAD((0,1),(0,1)) -> CONV_2D 3x3/2 VALID  =>  CONV_2D 3x3/2 SAME
"""

from __future__ import annotations

import math

import numpy as np

from qgraph.ir import Graph, Op
from qgraph.pipeline import PassContext
from qgraph.rewrite import RewritePass

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding TensorFlow's SAME adds along one spatial axis."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _why_not(graph: Graph, pad: Op) -> str | None:
    x, paddings = graph.inputs_of(pad)[:2]
    conv = graph.sole_reader(graph.outputs_of(pad)[0])
    if conv is None or conv.type not in _CONVS:
        return "its output is not read by exactly one CONV_2D / DEPTHWISE_CONV_2D"
    if conv.attrs["padding"] != "VALID":
        return f"{conv.name} already uses SAME padding"
    if paddings.data is None or len(x.shape) != 4:
        return "paddings are not a constant over a 4-D tensor"
    pads = paddings.data.astype(np.int64)
    if pads[0].any() or pads[3].any():
        return f"it pads the batch or channel axis: {pads.tolist()}"
    kh, kw = graph.inputs_of(conv)[1].shape[1:3]
    (sh, sw), (dh, dw) = conv.attrs["stride"], conv.attrs["dilation"]
    if (x.shape[1] < 0 and sh > 1) or (x.shape[2] < 0 and sw > 1):
        return "the spatial size is unknown, and SAME padding with stride > 1 depends on it"
    want = [same_padding(x.shape[1], kh, sh, dh), same_padding(x.shape[2], kw, sw, dw)]
    if [tuple(pads[1]), tuple(pads[2])] != want:
        return f"padding {pads[1:3].tolist()} differs from SAME's {want} for {conv.name}"
    return None


class FoldPad(RewritePass):
    name = "fold_pad"
    phase = "optimize"
    before = ("fold_batchnorm",)
    match_types = ("PAD",)
    summary = "folded {count} PAD ops into SAME convolutions"

    def check(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        return _why_not(graph, op)

    def rewrite(self, graph: Graph, op: Op, ctx: PassContext) -> None:
        x, padded = graph.inputs_of(op)[0], graph.outputs_of(op)[0]
        conv = graph.consumers(padded)[0]
        graph.set_input(conv, 0, x)
        graph.remove_op(op)
        conv.attrs["padding"] = "SAME"
