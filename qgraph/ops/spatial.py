"""Spatial ops: transposed convolution and slicing (Cropping)."""

from __future__ import annotations

from qgraph.ops.opdef import OpDef

OPS: list[OpDef] = []
