"""qgraph's own op definitions, contributed through the `qgraph_ops` hook exactly as a
plugin's would be (registered first, so a plugin's definition of the same type wins)."""

from __future__ import annotations

from qgraph.hookspecs import hookimpl
from qgraph.ops import conv, convert, elementwise, linalg, sequence, spatial, tensor
from qgraph.ops.opdef import OpDef


@hookimpl
def qgraph_ops() -> list[OpDef]:
    return [
        *conv.OPS,
        *elementwise.OPS,
        *tensor.OPS,
        *convert.OPS,
        *linalg.OPS,
        *sequence.OPS,
        *spatial.OPS,
    ]
