"""The IR as a Graphviz graph of op nodes, laid out by `dot` (through pydot) into SVG.

Op nodes carry their constants as label lines (`kernel 16x3x3x1 int8 per-axis(0)`), so only
activations are edges, each labelled with its shape; graph inputs and outputs are nodes of
their own. Node ids (`op3`, `in0`, `out0`) become the SVG groups' ids, and key the details
that the page's panel shows.

    nxg, details, unmatched = build(graph, errors={"stem": {"sqnr_db": 8.2}})
    svg = render_svg(nxg)
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Mapping
from typing import Any

import networkx as nx

from qgraph.errors import QGraphError
from qgraph.ir import Graph, Tensor
from qgraph.ops import op_defs
from qgraph.viewer import labels as lb

#: constants listed in an op's label; the rest are counted (all are in the details panel).
MAX_CONST_LINES = 4
FONT = "Helvetica,Arial,sans-serif"
INSTALL = "apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) or conda install graphviz"


class GraphvizNotFoundError(QGraphError):
    """Graphviz's `dot` program, which lays the graph out, is not on the PATH."""


def require_dot() -> str:
    """The path of Graphviz's `dot`, or a `GraphvizNotFoundError` saying how to install it (or
    pydot, which is an extra: `pip install qgraph[view]`)."""
    try:
        import pydot  # noqa: F401  (networkx's bridge to dot imports it)
    except ImportError:
        raise GraphvizNotFoundError(
            "qgraph view needs the pydot package, which is not installed: pip install pydot "
            "(or pip install -e '.[view]' in a checkout of qgraph)"
        ) from None
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(
            "qgraph view lays the graph out with Graphviz's `dot` program, which is not on the PATH; "
            f"install Graphviz: {INSTALL}"
        )
    return path


def build(
    graph: Graph, errors: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[nx.MultiDiGraph, dict[str, dict[str, Any]], list[str]]:
    """(the Graphviz graph, details by node id, error keys that matched no op)."""
    errors = errors or {}
    defs = op_defs()
    g = nx.MultiDiGraph()  # unnamed: a model's name needs no quoting in the dot text
    g.graph["graph"] = {"rankdir": "TB", "nodesep": "0.3", "ranksep": "0.35", "fontname": FONT}
    g.graph["node"] = {"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "11"}
    g.graph["edge"] = {"fontname": FONT, "fontsize": "9", "fontcolor": "#555555", "color": "#7b8ba1"}
    details: dict[str, dict[str, Any]] = {}
    source: dict[str, str] = {}  # tensor name -> node id of what writes it
    matched: set[str] = set()
    for i, name in enumerate(graph.inputs):
        t = graph.tensor(name)
        source[name] = _io_node(g, details, f"in{i}", "input", t)
    for t in graph.tensors():  # read but written by nothing: e.g. a variable tensor
        if t.name not in source and t.data is None and graph.producer(t) is None:
            source[t.name] = _io_node(g, details, f"src{len(source)}", "tensor", t)
    for i, op in enumerate(graph.ops()):
        node, ins, outs = f"op{i}", graph.inputs_of(op), graph.outputs_of(op)
        key = lb.match_error(op, outs, errors)
        entry = errors[key] if key is not None else {}
        if key is not None:
            matched.add(key)
        fill, border = lb.COLOURS[lb.error_class(entry)]
        consts = [(port, t) for port, t in enumerate(ins) if t.data is not None]
        roles = {port: lb.const_role(op.type, port, t, defs) for port, t in consts}
        g.add_node(
            node, id=node, label=_op_label(op, outs, consts, roles, entry), fillcolor=fill, color=border
        )
        details[node] = {
            "kind": "op",
            "type": op.type,
            "name": op.name,
            "attrs": lb.attrs_text(op),
            "inputs": [lb.tensor_info(t, roles.get(port, f"in {port}")) for port, t in enumerate(ins)],
            "outputs": [lb.tensor_info(t, f"out {port}") for port, t in enumerate(outs)],
            "errors": {"key": key, **entry} if key is not None else None,
        }
        for t in ins:
            if t.data is None and t.name in source:
                g.add_edge(source[t.name], node, label=lb.shape_text(t.shape))
        for t in outs:
            source[t.name] = node
    for i, name in enumerate(graph.outputs):
        node = _io_node(g, details, f"out{i}", "output", graph.tensor(name))
        if name in source:
            g.add_edge(source[name], node, label=lb.shape_text(graph.tensor(name).shape))
    return g, details, sorted(set(errors) - matched)


def render_svg(g: nx.MultiDiGraph) -> str:
    """The `<svg>` element `dot` lays `g` out into (its XML prolog and DOCTYPE dropped)."""
    dot = require_dot()
    svg = nx.nx_pydot.to_pydot(g).create(prog=dot, format="svg").decode("utf-8")
    return svg[svg.index("<svg") :]


def _op_label(
    op: Any, outs: list[Tensor], consts: list[tuple[int, Tensor]], roles: dict[int, str], entry: Mapping
) -> str:
    """An HTML-like Graphviz label: type (bold, with a fused activation), name, outputs,
    constants (small, grey) and the error figures."""
    fused = op.attrs.get("fused")
    head = f"<B>{_e(op.type)}</B>" + (f"&#160;+{_e(fused)}" if fused not in (None, "NONE") else "")
    lines = [
        f'<FONT POINT-SIZE="12">{head}</FONT>',
        f'<FONT COLOR="#37474f">{_e(lb.cut(op.name, 40))}</FONT>',
    ]
    lines += [_e(lb.tensor_line(t)) for t in outs]
    small = [f"{roles[port]} {lb.tensor_line(t)}" for port, t in consts[:MAX_CONST_LINES]]
    if len(consts) > MAX_CONST_LINES:
        small.append(f"+{len(consts) - MAX_CONST_LINES} more constants")
    lines += [f'<FONT POINT-SIZE="9" COLOR="#5f6b7a">{_e(s)}</FONT>' for s in small]
    if entry:
        lines.append(f'<FONT POINT-SIZE="10"><B>{_e(lb.error_text(entry))}</B></FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def _io_node(g: nx.MultiDiGraph, details: dict, node: str, kind: str, t: Tensor) -> str:
    """A graph input, output (or producer-less tensor) as a node of its own."""
    label = f"<<B>{kind}</B>&#160;{_e(lb.cut(t.name, 40))}<BR/>{_e(lb.tensor_line(t))}>"
    g.add_node(
        node, id=node, label=label, fillcolor="#e3f2fd" if kind != "output" else "#ede7f6", color="#5c7cae"
    )
    details[node] = {"kind": kind, "type": kind, "name": t.name, "attrs": {}, "inputs": [],
                     "outputs": [lb.tensor_info(t, kind)], "errors": None}  # fmt: skip
    return node


def _e(text: str) -> str:
    return html.escape(text, quote=True)
