"""CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED -> BATCH_NORM  =>  the same op with folded weights and bias
BATCH_NORM (nothing to fold into)                         =>  MUL(x, scale) -> ADD(shift)

With s = gamma / sqrt(var + eps): weights' = weights * s along the output channel,
bias' = (bias - mean) * s + beta. Folding needs the producer's output to be read by the
BatchNorm alone (not a graph output), no fused activation on the producer, and constant
weights; otherwise the BatchNorm is lowered to MUL + ADD and the reason logged.
A pruned or clustered weight keeps its constraint (`compress.rescale`): the mask as it is,
the clusters scaled per output channel.

While `qgraph.prune` / `qgraph.cluster` build their trainable model (modes "prune",
"cluster"), the pass stands aside: the BatchNorm stays a live Keras layer through the
fine-tune, its statistics following the constrained weights (as tfmot's do), and
`qgraph.compile` folds it afterwards.

    >>> FoldBatchNorm().run(graph, ctx)  # CONV_2D -> BATCH_NORM -> RELU6  =>  CONV_2D -> RELU6
"""

from __future__ import annotations

import numpy as np

from qgraph.compress.rescale import folds_allowed, rescale_weights
from qgraph.ir import Graph, Op
from qgraph.ops import op_facts
from qgraph.pipeline import PassContext
from qgraph.rewrite import (
    RewritePass,
    constant_weights_reason,
    fused_activation_reason,
    sole_reader_reason,
)


def bn_scale_shift(graph: Graph, bn: Op) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (t.data.astype(np.float64) for t in graph.inputs_of(bn)[1:])  # type: ignore[union-attr]
    scale = gamma / np.sqrt(var + bn.attrs["epsilon"])
    return scale, beta - mean * scale


def _why_not(graph: Graph, bn: Op) -> str | None:
    producer = graph.producer(graph.inputs_of(bn)[0])
    if producer is None or op_facts(producer.type).output_channel_axis is None:
        return (
            f"its input comes from {producer.type if producer else 'a graph input'}, not a conv or dense op"
        )
    return (
        sole_reader_reason(graph, producer, bn)
        or fused_activation_reason(producer)
        or constant_weights_reason(graph, producer)
    )


class FoldBatchNorm(RewritePass):
    name = "fold_batchnorm"
    phase = "optimize"
    match_types = ("BATCH_NORM",)
    refusal = "lowered {op} to MUL+ADD: {reason}"

    def enabled(self, ctx: PassContext) -> bool:
        return folds_allowed(ctx.quantize) and super().enabled(ctx)

    def check(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        return _why_not(graph, op)

    def rewrite(self, graph: Graph, op: Op, ctx: PassContext) -> str:
        self._fold(graph, op)
        return f"folded {op.name}"

    def fallback(self, graph: Graph, op: Op, ctx: PassContext) -> bool:
        self._lower(graph, op)
        return True

    @staticmethod
    def _fold(graph: Graph, bn: Op) -> None:
        scale, shift = bn_scale_shift(graph, bn)
        producer = graph.producer(graph.inputs_of(bn)[0])
        assert producer is not None
        bias = graph.inputs_of(producer)[2]
        new_b = (bias.data.astype(np.float64) * scale + shift).astype(np.float32)  # type: ignore[union-attr]
        rescale_weights(graph, producer, 1, scale, op_facts(producer.type).output_channel_axis)  # type: ignore[arg-type]
        graph.replace_constant(producer, 2, new_b)
        graph.absorb_into_producer(bn)

    @staticmethod
    def _lower(graph: Graph, bn: Op) -> None:
        scale, shift = bn_scale_shift(graph, bn)
        x, out = graph.inputs_of(bn)[0], graph.outputs_of(bn)[0]
        mul = Op(f"{bn.name}/mul", "MUL", {"fused": "NONE"}, dict(bn.meta))
        add = Op(f"{bn.name}/add", "ADD", {"fused": "NONE"}, dict(bn.meta))
        graph.remove_op(bn, remove_dead_tensors=True)
        scaled = graph.add_tensor(type(out)(f"{bn.name}/mul:0", out.shape))
        graph.add_op(mul, [x, graph.const(f"{bn.name}/scale", scale.astype(np.float32))], [scaled])
        graph.add_op(add, [scaled, graph.const(f"{bn.name}/shift", shift.astype(np.float32))], [out])
