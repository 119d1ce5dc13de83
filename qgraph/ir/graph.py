"""`Graph`: a directed bipartite graph of op and tensor nodes on networkx.

Edges run op -> tensor (an output port) and tensor -> op (an input port); the port is
the edge key of a `MultiDiGraph`, so an op may read the same tensor on two ports
(``ADD(x, x)``). Node keys are the unique op and tensor names (one namespace).

    g = Graph()
    x = g.add_tensor(Tensor("x", (-1, 4)))
    y = g.add_tensor(Tensor("y", (-1, 4)))
    g.add_op(Op("relu", "RELU"), [x], [y])
    g.inputs, g.outputs = ["x"], ["y"]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import networkx as nx

from qgraph.ir.nodes import Op, Tensor


class Graph:
    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.nx = nx.MultiDiGraph()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.meta: dict = {}
        self._seq = itertools.count()

    # ---- naming and lookup -------------------------------------------------------
    def unique_name(self, base: str) -> str:
        if base not in self.nx:
            return base
        for i in itertools.count(1):
            if f"{base}_{i}" not in self.nx:
                return f"{base}_{i}"
        raise AssertionError("unreachable")

    def tensor(self, name: str) -> Tensor:
        node = self.nx.nodes.get(name)
        if node is None or node["kind"] != "tensor":
            raise KeyError(f"no tensor named {name!r} in graph {self.name!r}")
        return node["obj"]

    def op(self, name: str) -> Op:
        node = self.nx.nodes.get(name)
        if node is None or node["kind"] != "op":
            raise KeyError(f"no op named {name!r} in graph {self.name!r}")
        return node["obj"]

    def tensors(self) -> list[Tensor]:
        return [d["obj"] for _, d in self.nx.nodes(data=True) if d["kind"] == "tensor"]

    def ops(self) -> list[Op]:
        """Ops in a topological order that is stable: ties break by insertion order."""
        seq = self.nx.nodes
        order = nx.lexicographical_topological_sort(self.nx, key=lambda n: seq[n]["seq"])
        return [seq[n]["obj"] for n in order if seq[n]["kind"] == "op"]

    def order_after(self, anchor: Tensor | Op | str, nodes: Sequence[Tensor | Op | str]) -> None:
        """Put `nodes` (in this order) right after `anchor` in `ops()`'s order, as far as their
        inputs allow. E.g. an op added to read a tensor runs as soon as the tensor exists,
        instead of after everything added before it (which keeps the tensor alive till then)."""
        data = self.nx.nodes
        base = data[_name(anchor)]["seq"]
        for k, node in enumerate(nodes, start=1):
            data[_name(node)]["seq"] = base + k / (len(nodes) + 1)

    # ---- structure -----------------------------------------------------------------
    def producer(self, tensor: Tensor | str) -> Op | None:
        name = _name(tensor)
        preds = list(self.nx.predecessors(name))
        return self.nx.nodes[preds[0]]["obj"] if preds else None

    def uses(self, tensor: Tensor | str) -> list[tuple[Op, int]]:
        """(consumer op, input port) pairs reading `tensor`, in op order."""
        name = _name(tensor)
        pairs = [(self.nx.nodes[v]["obj"], k) for _, v, k in self.nx.out_edges(name, keys=True)]
        return sorted(pairs, key=lambda p: (self.nx.nodes[p[0].name]["seq"], p[1]))

    def consumers(self, tensor: Tensor | str) -> list[Op]:
        seen: dict[str, Op] = {}
        for op, _ in self.uses(tensor):
            seen.setdefault(op.name, op)
        return list(seen.values())

    def is_graph_output(self, tensor: Tensor | str) -> bool:
        return _name(tensor) in self.outputs

    def inputs_of(self, op: Op | str) -> list[Tensor]:
        edges = sorted(self.nx.in_edges(_name(op), keys=True), key=lambda e: e[2])
        return [self.nx.nodes[u]["obj"] for u, _, _ in edges]

    def outputs_of(self, op: Op | str) -> list[Tensor]:
        edges = sorted(self.nx.out_edges(_name(op), keys=True), key=lambda e: e[2])
        return [self.nx.nodes[v]["obj"] for _, v, _ in edges]

    # ---- editing -----------------------------------------------------------------
    def add_tensor(self, tensor: Tensor) -> Tensor:
        tensor.name = self.unique_name(tensor.name)
        self.nx.add_node(tensor.name, kind="tensor", obj=tensor, seq=next(self._seq))
        return tensor

    def const(self, name: str, data, dtype: str | None = None) -> Tensor:
        """Add a constant tensor holding `data` (a numpy array)."""
        import numpy as np

        arr = np.ascontiguousarray(data, dtype=dtype)
        return self.add_tensor(Tensor(name, arr.shape, str(arr.dtype), arr))

    def add_op(self, op: Op, inputs: Sequence[Tensor], outputs: Sequence[Tensor]) -> Op:
        op.name = self.unique_name(op.name)
        self.nx.add_node(op.name, kind="op", obj=op, seq=next(self._seq))
        for port, t in enumerate(inputs):
            self._require_tensor(t)
            self.nx.add_edge(t.name, op.name, key=port)
        for port, t in enumerate(outputs):
            self._require_tensor(t)
            if self.producer(t) is not None:
                raise ValueError(
                    f"tensor {t.name!r} already has a producer; cannot also be written by {op.name!r}"
                )
            self.nx.add_edge(op.name, t.name, key=port)
        return op

    def set_input(self, op: Op, port: int, tensor: Tensor) -> None:
        """Point input `port` of `op` at `tensor`."""
        for u, _, k in list(self.nx.in_edges(op.name, keys=True)):
            if k == port:
                self.nx.remove_edge(u, op.name, key=k)
        self.nx.add_edge(tensor.name, op.name, key=port)

    def set_inputs(self, op: Op, inputs: Sequence[Tensor]) -> None:
        """Replace all inputs of `op` (ports renumbered densely)."""
        for u, _, k in list(self.nx.in_edges(op.name, keys=True)):
            self.nx.remove_edge(u, op.name, key=k)
        for port, t in enumerate(inputs):
            self.nx.add_edge(t.name, op.name, key=port)

    def set_output(self, op: Op, port: int, tensor: Tensor) -> None:
        """`op` writes `tensor` at output `port` (the tensor it wrote there before is left as is)."""
        if self.producer(tensor) is not None:
            raise ValueError(f"tensor {tensor.name!r} already has a producer")
        for _, v, k in list(self.nx.out_edges(op.name, keys=True)):
            if k == port:
                self.nx.remove_edge(op.name, v, key=k)
        self.nx.add_edge(op.name, tensor.name, key=port)

    def remove_tensor(self, tensor: Tensor) -> None:
        if self.nx.degree(tensor.name) or tensor.name in self.inputs + self.outputs:
            raise ValueError(f"tensor {tensor.name!r} is still in use")
        self.nx.remove_node(tensor.name)

    def absorb_into_producer(self, op: Op, **attrs) -> Op:
        """Remove the single-input op `op` and let its input's producer write op's output,
        with `attrs` set on the producer (e.g. ``fused="RELU"``). The caller checks that
        the producer's output has no other reader."""
        ins, (out,) = self.inputs_of(op), self.outputs_of(op)
        mid = ins[0]
        producer = self.producer(mid)
        if producer is None:
            raise ValueError(f"op {op.name!r}: its input {mid.name!r} has no producer to absorb into")
        self.nx.remove_node(op.name)
        self.set_output(producer, self.outputs_of(producer).index(mid), out)
        self.remove_tensor(mid)
        for t in ins[1:]:
            self._drop_if_dead(t)
        producer.attrs.update(attrs)
        return producer

    def sole_reader(self, tensor: Tensor) -> Op | None:
        """The one op reading `tensor` once, if that is its only use (and not a graph output)."""
        uses = self.uses(tensor)
        if len(uses) != 1 or self.is_graph_output(tensor):
            return None
        return uses[0][0]

    def replace_all_uses(self, old: Tensor, new: Tensor) -> None:
        """Every reader of `old` (ops and graph outputs) reads `new` instead."""
        for op, port in self.uses(old):
            self.nx.remove_edge(old.name, op.name, key=port)
            self.nx.add_edge(new.name, op.name, key=port)
        self.outputs = [new.name if n == old.name else n for n in self.outputs]

    def remove_op(self, op: Op, remove_dead_tensors: bool = True) -> None:
        """Remove `op`; its inputs and outputs left without any use are removed too."""
        touched = self.inputs_of(op) + self.outputs_of(op)
        self.nx.remove_node(op.name)
        if remove_dead_tensors:
            for t in touched:
                self._drop_if_dead(t)

    def replace_op(self, old: Op, new: Op, inputs: Sequence[Tensor] | None = None) -> Op:
        """Put `new` in place of `old`: same outputs, `inputs` (default: old's inputs)."""
        old_ins, outs = self.inputs_of(old), self.outputs_of(old)
        self.nx.remove_node(old.name)
        self.add_op(new, old_ins if inputs is None else list(inputs), outs)
        for t in old_ins:
            self._drop_if_dead(t)
        return new

    def insert_after(self, tensor: Tensor, op: Op, extra_inputs: Sequence[Tensor] = ()) -> Tensor:
        """Insert `op` reading `tensor`; every former reader of `tensor` reads op's output.

        Returns the new output tensor (same shape and dtype as `tensor`).
        """
        out = self.add_tensor(Tensor(f"{tensor.name}/{op.type.lower()}", tensor.shape, tensor.dtype))
        self.replace_all_uses(tensor, out)
        self.add_op(op, [tensor, *extra_inputs], [out])
        return out

    def prune(self) -> int:
        """Drop ops and tensors that no graph output depends on; returns how many nodes."""
        live = set(self.outputs)
        for name in self.outputs:
            live |= nx.ancestors(self.nx, name)
        live |= set(self.inputs)
        dead = [n for n in self.nx if n not in live]
        self.nx.remove_nodes_from(dead)
        return len(dead)

    def copy(self) -> Graph:
        g = Graph(self.name)
        g.inputs, g.outputs, g.meta = list(self.inputs), list(self.outputs), dict(self.meta)
        for n, d in self.nx.nodes(data=True):
            g.nx.add_node(n, kind=d["kind"], obj=d["obj"].copy(), seq=d["seq"])
        g.nx.add_edges_from(self.nx.edges(keys=True))
        g._seq = itertools.count(max((d["seq"] for _, d in self.nx.nodes(data=True)), default=-1) + 1)
        return g

    # ---- views ---------------------------------------------------------------------
    def dump(self, **kwargs) -> str:
        from qgraph.ir.dump import dump

        return dump(self, **kwargs)

    def lint(self) -> None:
        from qgraph.ir.lint import lint

        lint(self)

    def summary(self) -> dict:
        from qgraph.ir.dump import summary

        return summary(self)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops())

    def __repr__(self) -> str:
        n_ops = sum(1 for _, d in self.nx.nodes(data=True) if d["kind"] == "op")
        return f"<Graph {self.name!r}: {n_ops} ops, {self.nx.number_of_nodes() - n_ops} tensors>"

    # ---- internals -----------------------------------------------------------------
    def _require_tensor(self, t: Tensor) -> None:
        node = self.nx.nodes.get(t.name)
        if node is None or node["obj"] is not t:
            raise ValueError(
                f"tensor {t.name!r} is not part of graph {self.name!r}; add it with add_tensor first"
            )

    def replace_constant(self, op: Op, port: int, data) -> Tensor:
        """`op` reads a new constant holding `data` at `port` (named like the old one); the old
        constant goes if nothing else reads it. Never edits arrays in place: a weight may
        be shared by several ops."""
        old = self.inputs_of(op)[port]
        new = self.const(old.name, data)
        self.set_input(op, port, new)
        self._drop_if_dead(old)
        return new

    def _drop_if_dead(self, t: Tensor) -> None:
        if t.name in self.nx and self.nx.degree(t.name) == 0 and t.name not in self.inputs + self.outputs:
            self.nx.remove_node(t.name)


def _name(x: Op | Tensor | str) -> str:
    return x if isinstance(x, str) else x.name
