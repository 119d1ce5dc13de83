"""Which weights pruning and clustering touch: the `OpDef.compress_port` constant of each
op, by default only where `OpDef.compress_by_default` (not depthwise kernels, as tfmot);
a user's layer selection names any op with a compress port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from qgraph.ir import Graph, Op, Tensor
from qgraph.ops import op_facts


class CompressibleWeight(NamedTuple):
    op: Op
    port: int
    tensor: Tensor
    layer: str  # the Keras layer the op came from (reports name it)

    @property
    def output_axis(self) -> int:
        axis = op_facts(self.op.type).output_channel_axis
        return 0 if axis is None else axis

    @property
    def input_axis(self) -> int:
        axis = op_facts(self.op.type).input_channel_axis
        # CONV_2D/FULLY_CONNECTED name it; TRANSPOSE_CONV's OHWI and an embedding table end with it.
        return len(self.tensor.shape) - 1 if axis is None else axis


def compressible_weights(
    graph: Graph, select: Callable[[Op], bool] | None = None
) -> Iterator[CompressibleWeight]:
    """The float constant weights the selection reaches (`select` None: the default set)."""
    for op in graph.ops():
        facts = op_facts(op.type)
        if facts.compress_port is None or (select is None and not facts.compress_by_default):
            continue
        if select is not None and not select(op):
            continue
        inputs = graph.inputs_of(op)
        if facts.compress_port >= len(inputs):
            continue
        t = inputs[facts.compress_port]
        if t.data is None or t.data.dtype.kind != "f":
            continue
        yield CompressibleWeight(op, facts.compress_port, t, str(op.meta.get("layer", op.name)))
