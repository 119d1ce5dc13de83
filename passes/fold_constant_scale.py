"""MUL(x, c) -> CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED   =>  the op with weights * c along the input channel
CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED -> MUL(c) / ADD(c)  =>  the op with weights * c, bias * c (+ c) along the output channel

`c` is a constant scalar or per-channel vector (Rescaling, a BatchNorm lowered to MUL+ADD,
a scaled residual). Like TFLiteConverter, this removes an op and, for int8, a requantize
step. The MUL/ADD output must be read by nothing else; the producer must carry no fused
activation; folding a MUL *into* a conv's input also needs the MUL to be the conv's
only input path (its output read by the conv alone). Zero padding stays exact: 0 * c = 0.
A pruned or clustered weight keeps its constraint (`compress.rescale`); a clustered weight
takes no factor that varies along its input channel (its channels would gain values).
The pass stands aside while `qgraph.prune` / `qgraph.cluster` build their fine-tune model
(see `enabled`); `qgraph.compile` folds afterwards.
A MUL or ADD that folds neither way is kept, and the reason logged.

    >>> FoldConstantScale().run(graph, ctx)  # MUL(x, 1/16) -> CONV_2D  =>  CONV_2D (kernel / 16)
"""

from __future__ import annotations

import numpy as np

from qgraph.compress.rescale import folds_allowed, rescale_reason, rescale_weights
from qgraph.ir import Graph, Op, Tensor
from qgraph.ops import op_facts
from qgraph.pipeline import PassContext
from qgraph.rewrite import (
    RewritePass,
    constant_weights_reason,
    fused_activation_reason,
    sole_reader_reason,
)


def _split_operands(graph: Graph, op: Op) -> tuple[Tensor, np.ndarray] | str:
    """(the variable input, the constant's data), or why `op` has not exactly one constant operand."""
    a, b = graph.inputs_of(op)
    var, const = (a, b) if b.is_constant else (b, a)
    if var.is_constant:
        return f"both operands of {op.name} are constant"
    if const.data is None:
        return f"{op.name} has no constant operand"
    return var, const.data


def _per_channel(op: Op, c: np.ndarray, channels: int) -> np.ndarray | str:
    """`c` as one float64 value per channel, or why it does not broadcast along the last axis only."""
    if c.size not in (1, channels):
        return f"{op.name}'s constant has {c.size} values, not 1 or {channels}"
    if c.size == channels and c.shape[-1] != channels:
        return f"{op.name}'s constant of shape {c.shape} does not run along the channel (last) axis"
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (channels,))


def _reader_channels(graph: Graph, reader: Op, x: Tensor) -> int:
    w = graph.inputs_of(reader)[1]
    flattens = reader.type == "FULLY_CONNECTED" and len(x.shape) > 2 and not reader.attrs.get("keep_num_dims")
    if flattens and x.shape[-1] != w.data.shape[1]:  # type: ignore[union-attr]
        return 1  # FC flattens the input: only a scalar maps onto its weight columns
    return x.shape[-1]


def _input_axis(reader: Op) -> tuple[int, int]:
    """(the weights' input-channel axis, how often each input channel repeats along it)."""
    repeat = reader.attrs.get("depth_multiplier", 1) if reader.type == "DEPTHWISE_CONV_2D" else 1
    return op_facts(reader.type).input_channel_axis, repeat  # type: ignore[return-value]


class FoldConstantScale(RewritePass):
    name = "fold_constant_scale"
    phase = "optimize"
    after = ("fold_batchnorm",)
    before = ("fuse_activation",)
    match_types = ("MUL", "ADD")

    def enabled(self, ctx: PassContext) -> bool:
        return folds_allowed(ctx.quantize) and super().enabled(ctx)

    def check(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        operands = _split_operands(graph, op)
        if isinstance(operands, str):
            return operands
        if reason := fused_activation_reason(op):
            return reason
        into_producer = self._producer_reason(graph, op, *operands)
        if into_producer is None or op.type != "MUL":
            return into_producer
        into_reader = self._reader_reason(graph, op, operands[1])
        if into_reader is None:
            return None
        return f"not into its producer ({into_producer}), nor into its reader ({into_reader})"

    def rewrite(self, graph: Graph, op: Op, ctx: PassContext) -> str:
        operands = _split_operands(graph, op)
        assert not isinstance(operands, str)  # check() passed
        if self._producer_reason(graph, op, *operands) is None:
            self._fold_into_producer(graph, op, *operands)
        else:
            self._fold_into_reader(graph, op, *operands)
        return f"folded {op.name} ({op.type} by a constant)"

    @staticmethod
    def _producer_reason(graph: Graph, op: Op, x: Tensor, c: np.ndarray) -> str | None:
        producer = graph.producer(x)
        if producer is None or op_facts(producer.type).output_channel_axis is None:
            return f"its input comes from {producer.type if producer else 'a graph input'}, not a conv or dense op"
        reason = (
            fused_activation_reason(producer)
            or constant_weights_reason(graph, producer)
            or sole_reader_reason(graph, producer, op)
        )
        if reason:
            return reason
        found = _per_channel(op, c, graph.inputs_of(producer)[2].data.shape[0])  # type: ignore[union-attr]
        return found if isinstance(found, str) else None

    @staticmethod
    def _reader_reason(graph: Graph, mul: Op, c: np.ndarray) -> str | None:
        out = graph.outputs_of(mul)[0]
        reader = graph.sole_reader(out)
        if reader is None:
            return f"{mul.name}'s output is read by more than one op, or is a graph output"
        if op_facts(reader.type).input_channel_axis is None:
            return f"its output goes to {reader.type}, not a conv or dense op"
        port = graph.inputs_of(reader).index(out)
        if port != 0:
            return f"it feeds {reader.name}'s input {port}, not its data input"
        if reason := constant_weights_reason(graph, reader, with_bias=False):
            return reason
        channels = _reader_channels(graph, reader, out)
        if channels == 1 and c.size != 1:
            return f"{reader.name} flattens its input: only a scalar folds into its weights"
        found = _per_channel(mul, c, channels)
        if isinstance(found, str):
            return found
        axis, repeat = _input_axis(reader)
        return rescale_reason(graph, reader, 1, found, axis, repeat)

    @staticmethod
    def _fold_into_producer(graph: Graph, op: Op, x: Tensor, c: np.ndarray) -> None:
        producer = graph.producer(x)
        assert producer is not None
        w, b = graph.inputs_of(producer)[1:3]
        assert w.data is not None and b.data is not None  # check() passed
        vector = _per_channel(op, c, b.data.shape[0])
        assert not isinstance(vector, str)
        if op.type == "MUL":
            rescale_weights(graph, producer, 1, vector, op_facts(producer.type).output_channel_axis)  # type: ignore[arg-type]
            new_b = (b.data * vector).astype(np.float32)
        else:
            new_b = (b.data + vector).astype(np.float32)
        graph.replace_constant(producer, 2, new_b)
        graph.absorb_into_producer(op)  # the op's constant operand is dropped with it

    @staticmethod
    def _fold_into_reader(graph: Graph, mul: Op, x: Tensor, c: np.ndarray) -> None:
        out = graph.outputs_of(mul)[0]
        reader = graph.sole_reader(out)
        assert reader is not None
        vector = _per_channel(mul, c, _reader_channels(graph, reader, out))
        assert not isinstance(vector, str)  # check() passed
        rescale_weights(graph, reader, 1, vector, *_input_axis(reader))
        graph.set_input(reader, 0, x)
        graph.remove_op(mul)
