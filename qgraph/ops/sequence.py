"""Sequence ops: GATHER (Embedding) and TFLite's fused recurrent ops."""

from __future__ import annotations

from qgraph.ops.opdef import OpDef

OPS: list[OpDef] = []
