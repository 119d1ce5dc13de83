"""Linear-algebra, reduction and math ops used by normalization and attention layers."""

from __future__ import annotations

from qgraph.ops.opdef import OpDef

OPS: list[OpDef] = []
