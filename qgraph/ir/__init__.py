"""The qgraph IR: a bipartite op/tensor graph on networkx."""

from qgraph.ir.graph import Graph
from qgraph.ir.lint import lint
from qgraph.ir.nodes import QRANGE, Op, QuantParams, Tensor

__all__ = ["Graph", "Op", "QRANGE", "QuantParams", "Tensor", "lint"]
