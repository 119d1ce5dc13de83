"""The qgraph IR: a bipartite op/tensor graph on networkx."""

from qgraph.ir.graph import Graph
from qgraph.ir.lint import lint
from qgraph.ir.nodes import PRE_LEGAL_TYPES, Op, QuantParams, Tensor

__all__ = ["Graph", "Op", "PRE_LEGAL_TYPES", "QuantParams", "Tensor", "lint"]
