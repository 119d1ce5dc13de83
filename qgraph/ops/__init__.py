"""The op registry: one `OpDef` per op type (see `opdef.py`), merged from the `qgraph_ops`
hook by `op_defs()`. Built-in ops live in `conv.py`, `elementwise.py`, `tensor.py` and
`convert.py`, registered by `builtin.py`."""

from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.registry import builtin_op_defs, op_def, op_defs, op_facts

__all__ = ["REQUIRED", "OpDef", "builtin_op_defs", "op_def", "op_defs", "op_facts"]
