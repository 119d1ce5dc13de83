"""Small graphs with the weights pruning and clustering meet: a conv followed by a depthwise
conv (left alone by default), and a dense layer."""

from __future__ import annotations

from qgraph.ir import Graph
from tests.passes.helpers import act, conv2d, dense, depthwise, rng


def conv_dw() -> Graph:
    g, r = Graph("conv_dw"), rng()
    x = act(g, "x", (1, 8, 8, 8))
    _, y = conv2d(g, r, "conv", x, (1, 8, 8, 16), 16)
    _, y = depthwise(g, r, "dw", y, (1, 8, 8, 16))
    g.inputs, g.outputs = ["x"], [y.name]
    return g


def dense_only(units: int = 32, inputs: int = 64) -> Graph:
    g, r = Graph("dense"), rng()
    x = act(g, "x", (1, inputs))
    _, y = dense(g, r, "fc", x, units)
    g.inputs, g.outputs = ["x"], [y.name]
    return g
