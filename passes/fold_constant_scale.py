"""MUL(x, c) -> CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED   =>  the op with weights * c along the input channel
CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED -> MUL(c) / ADD(c)  =>  the op with weights * c, bias * c (+ c) along the output channel

`c` is a constant scalar or per-channel vector (Rescaling, a BatchNorm lowered to MUL+ADD,
a scaled residual). Like TFLiteConverter, this removes an op and, for int8, a requantize
step. The MUL/ADD output must be read by nothing else; the producer must carry no fused
activation; folding a MUL *into* a conv's input also needs the MUL to be the conv's
only input path (its output read by the conv alone). Zero padding stays exact: 0 * c = 0.

    >>> FoldConstantScale().run(graph, ctx)  # MUL(x, 1/16) -> CONV_2D  =>  CONV_2D (kernel / 16)
"""

from __future__ import annotations

import numpy as np

from qgraph.ir import Graph, Op, Tensor
from qgraph.ir.layout import INPUT_CHANNEL_AXIS, OUTPUT_CHANNEL_AXIS, scale_channels
from qgraph.pipeline import Pass, PassContext


def _channel_constant(graph: Graph, op: Op, channels: int) -> tuple[Tensor, np.ndarray] | None:
    """(variable input, per-channel vector) when `op` is a binary op with a constant that
    broadcasts along the last axis only."""
    a, b = graph.inputs_of(op)
    var, const = (a, b) if b.is_constant else (b, a)
    if var.is_constant or const.data is None or const.data.size not in (1, channels):
        return None
    if const.data.size == channels and const.data.shape[-1] != channels:
        return None
    return var, np.broadcast_to(const.data.reshape(-1).astype(np.float64), (channels,))


class FoldConstantScale(Pass):
    name = "fold_constant_scale"
    phase = "optimize"
    after = ("fold_batchnorm",)
    before = ("fuse_activation",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        folded = 0
        for op in graph.ops():
            if op.name not in graph.nx or op.type not in ("MUL", "ADD"):
                continue
            if self._fold_into_producer(graph, op) or (
                op.type == "MUL" and self._fold_into_consumer(graph, op)
            ):
                ctx.log(f"folded {op.name} ({op.type} by a constant)")
                folded += 1
        return folded > 0

    @staticmethod
    def _fold_into_producer(graph: Graph, op: Op) -> bool:
        if op.attrs.get("fused", "NONE") != "NONE":
            return False
        x = next((t for t in graph.inputs_of(op) if not t.is_constant), None)
        producer = graph.producer(x) if x is not None else None
        if (
            producer is None
            or producer.type not in OUTPUT_CHANNEL_AXIS
            or producer.attrs.get("fused", "NONE") != "NONE"
        ):
            return False
        w, b = graph.inputs_of(producer)[1:3]
        if w.data is None or b.data is None or graph.sole_reader(graph.outputs_of(producer)[0]) is not op:
            return False
        found = _channel_constant(graph, op, b.data.shape[0])
        if found is None:
            return False
        c = found[1]
        if op.type == "MUL":
            new_w, new_b = (
                scale_channels(w.data, c, OUTPUT_CHANNEL_AXIS[producer.type]),
                (b.data * c).astype(np.float32),
            )
        else:
            new_w, new_b = w.data, (b.data + c).astype(np.float32)
        graph.replace_constant(producer, 1, new_w)
        graph.replace_constant(producer, 2, new_b)
        graph.absorb_into_producer(op)  # the op's constant operand is dropped with it
        return True

    @staticmethod
    def _fold_into_consumer(graph: Graph, mul: Op) -> bool:
        out = graph.outputs_of(mul)[0]
        consumer = graph.sole_reader(out)
        if (
            consumer is None
            or consumer.type not in INPUT_CHANNEL_AXIS
            or mul.attrs.get("fused", "NONE") != "NONE"
        ):
            return False
        x_port = graph.inputs_of(consumer).index(out)
        w = graph.inputs_of(consumer)[1]
        if x_port != 0 or w.data is None:
            return False
        in_channels = out.shape[-1]
        flattens = (
            consumer.type == "FULLY_CONNECTED"
            and len(out.shape) > 2
            and not consumer.attrs.get("keep_num_dims")
        )
        if flattens and in_channels != w.data.shape[1]:
            in_channels = 1  # FC flattens the input: only a scalar maps onto its weight columns
        found = _channel_constant(graph, mul, in_channels)
        if found is None:
            return False
        x, c = found
        repeat = consumer.attrs.get("depth_multiplier", 1) if consumer.type == "DEPTHWISE_CONV_2D" else 1
        graph.replace_constant(
            consumer, 1, scale_channels(w.data, c, INPUT_CHANNEL_AXIS[consumer.type], repeat)
        )
        graph.set_input(consumer, 0, x)
        graph.remove_op(mul)
        return True
