"""Stable, diff-friendly text views of a `Graph` (used by golden tests and `qgraph inspect`)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qgraph.ir.graph import Graph
    from qgraph.ir.nodes import Tensor

_SHORT = {
    "float32": "f32",
    "float16": "f16",
    "int32": "i32",
    "int64": "i64",
    "int16": "i16",
    "int8": "i8",
    "uint8": "u8",
    "bool": "b",
}


def describe_tensor(t: Tensor, with_quant: bool = True) -> str:
    s = f"{t.name}:{_SHORT.get(t.dtype, t.dtype)}{list(t.shape)}"
    if t.is_constant:
        s += "=const"
    q = t.quant
    if with_quant and q is not None:
        where = f" axis={q.axis} n={len(q.scale)}" if q.per_axis else ""
        s += f" q(s={float(q.scale[0]):.6g} z={int(q.zero_point[0])}{where})"
    return s


def _fmt_attr(v) -> str:
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        return "(" + ", ".join(_fmt_attr(x) for x in v) + ")"
    return str(v)


def dump(graph: Graph, quant: bool = True) -> str:
    """One line per op, in topological order, with attrs sorted by name."""
    lines = [f"graph {graph.name}"]
    lines.append("  inputs:  " + ", ".join(describe_tensor(graph.tensor(n), quant) for n in graph.inputs))
    lines.append("  outputs: " + ", ".join(describe_tensor(graph.tensor(n), quant) for n in graph.outputs))
    for op in graph.ops():
        ins = ", ".join(describe_tensor(t, quant) for t in graph.inputs_of(op))
        outs = ", ".join(describe_tensor(t, quant) for t in graph.outputs_of(op))
        attrs = ", ".join(f"{k}={_fmt_attr(v)}" for k, v in sorted(op.attrs.items()))
        lines.append(f"  {op.name} = {op.type}({ins}){' {' + attrs + '}' if attrs else ''} -> {outs}")
    return "\n".join(lines) + "\n"


def summary(graph: Graph) -> dict:
    """Counts a user asks for first: ops by type, tensors, parameters and their bytes."""
    ops = graph.ops()
    consts = [t for t in graph.tensors() if t.is_constant]
    return {
        "name": graph.name,
        "ops": len(ops),
        "ops_by_type": dict(sorted(Counter(op.type for op in ops).items())),
        "tensors": len(graph.tensors()),
        "constants": len(consts),
        "parameters": int(sum(t.data.size for t in consts if t.data is not None)),
        "parameter_bytes": int(sum(t.nbytes for t in consts)),
        "inputs": {n: list(graph.tensor(n).shape) for n in graph.inputs},
        "outputs": {n: list(graph.tensor(n).shape) for n in graph.outputs},
    }
