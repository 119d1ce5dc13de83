"""`lint(graph)`: the IR's invariants, checked after every pass in tests and under QGRAPH_DEBUG=1.

Each violation names the node at fault; all violations are reported together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from qgraph.errors import LintError
from qgraph.ir.nodes import QRANGE, Tensor
from qgraph.ops import op_defs

if TYPE_CHECKING:
    from qgraph.ir.graph import Graph


def lint(graph: Graph) -> None:
    errors: list[str] = []
    g = graph.nx
    for u, v in g.edges():
        if g.nodes[u]["kind"] == g.nodes[v]["kind"]:
            errors.append(
                f"edge {u!r} -> {v!r} joins two {g.nodes[u]['kind']} nodes (graph must be bipartite)"
            )
    if not nx.is_directed_acyclic_graph(g):
        errors.append(f"graph has a cycle: {nx.find_cycle(g)}")
    for name in graph.inputs + graph.outputs:
        if name not in g or g.nodes[name]["kind"] != "tensor":
            errors.append(f"graph input/output {name!r} is not a tensor of the graph")
    for n, d in g.nodes(data=True):
        obj = d["obj"]
        if obj.name != n:
            errors.append(f"node key {n!r} differs from its object's name {obj.name!r}")
        errors += _lint_op(graph, obj) if d["kind"] == "op" else _lint_tensor(graph, obj)
    if errors:
        raise LintError(f"graph {graph.name!r} fails lint:\n  " + "\n  ".join(errors))


def _lint_op(graph: Graph, op) -> list[str]:
    errs = []
    d = op_defs().get(op.type)
    if d is None:
        errs.append(
            f"op {op.name!r}: unknown type {op.type!r} (no OpDef; plugins add one with the qgraph_ops hook)"
        )
    elif missing := d.missing_attrs(op.attrs):
        errs.append(f"op {op.name!r} ({op.type}): required attribute(s) {missing} missing")
    for direction, edges in (
        ("input", graph.nx.in_edges(op.name, keys=True)),
        ("output", graph.nx.out_edges(op.name, keys=True)),
    ):
        ports = sorted(k for _, _, k in edges)
        if ports != list(range(len(ports))):
            errs.append(f"op {op.name!r}: {direction} ports {ports} are not dense from 0")
    outs = graph.outputs_of(op)
    if not outs:
        errs.append(f"op {op.name!r} ({op.type}) has no output")
    ins = graph.inputs_of(op)
    if d is not None and d.shape == "same" and ins and outs and tuple(ins[0].shape) != tuple(outs[0].shape):
        errs.append(f"op {op.name!r} ({op.type}): output shape {outs[0].shape} != input shape {ins[0].shape}")
    return errs


def _lint_tensor(graph: Graph, t: Tensor) -> list[str]:
    errs = []
    producers = list(graph.nx.predecessors(t.name))
    if len(producers) > 1:
        errs.append(f"tensor {t.name!r} has several producers {producers}")
    if t.is_constant:
        assert t.data is not None
        if producers:
            errs.append(f"constant tensor {t.name!r} is also written by {producers}")
        if str(t.data.dtype) != t.dtype:
            errs.append(f"tensor {t.name!r}: data dtype {t.data.dtype} != declared {t.dtype}")
        if tuple(t.data.shape) != tuple(t.shape):
            errs.append(f"tensor {t.name!r}: data shape {t.data.shape} != declared {t.shape}")
    elif not producers and t.name not in graph.inputs:
        errs.append(f"tensor {t.name!r} has no producer, no data and is not a graph input")
    if t.quant is not None:
        errs += _lint_quant(t)
    return errs


def _lint_quant(t: Tensor) -> list[str]:
    q, errs = t.quant, []
    assert q is not None
    if len(q.scale) != len(q.zero_point):
        errs.append(f"tensor {t.name!r}: {len(q.scale)} scales but {len(q.zero_point)} zero points")
    if not np.all(np.isfinite(q.scale)) or np.any(q.scale <= 0):
        errs.append(f"tensor {t.name!r}: scales must be finite and > 0")
    if q.axis is not None:
        if not -len(t.shape) <= q.axis < len(t.shape):
            errs.append(f"tensor {t.name!r}: quantized axis {q.axis} out of range for shape {t.shape}")
        elif len(q.scale) != t.shape[q.axis]:
            errs.append(
                f"tensor {t.name!r}: {len(q.scale)} scales for axis {q.axis} of size {t.shape[q.axis]}"
            )
    elif len(q.scale) != 1:
        errs.append(f"tensor {t.name!r}: per-tensor quantization needs exactly one scale")
    lo, hi = QRANGE.get(q.dtype, (None, None))
    if lo is not None and (np.any(q.zero_point < lo) or np.any(q.zero_point > hi)):
        errs.append(f"tensor {t.name!r}: zero point outside the {q.dtype} range [{lo}, {hi}]")
    return errs
