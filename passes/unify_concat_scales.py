"""CONCATENATION(a: q_a, b: q_b, ...) -> out: q_out  =>  every input written at q_out

The int8 concat kernel needs every input at the output's scale and zero point. With
calibrated ranges, every tensor linked to a concat through concats and pass-through ops
(pools, pads, reshapes: `same_scale`) joins one group that gets the union of its members'
ranges, as TFLiteConverter does: a DenseNet block's chain of concats then shares one scale
and needs no requantize between its layers (each one adds rounding error). Otherwise
(learned QAT ranges, which training fixed) the output's parameters are given to the
inputs: their producers then write at that scale directly. Where an
input cannot take them (its producer has fixed or pass-through output parameters, or the
tensor is already bound to another concat with other parameters), a requantizing
QUANTIZE is inserted for that input only and the report says so. A constant input
(`MINIMUM(x, 1e7)`) is written at the shared parameters, saturating, as the converter does:
a QUANTIZE of a constant would be evaluated by LiteRT as the zero point. MAXIMUM / MINIMUM
share the same rule.

    >>> UnifyConcatScales().run(graph, ctx)  # conv_a, conv_b -> CONCATENATION: conv_a, conv_b write at concat's q
"""

from __future__ import annotations

import copy

import networkx as nx

from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.ops import op_facts
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import has_learned_ranges, is_float, observed_range
from qgraph.quant.numerics import activation_params


def _same(a: QuantParams | None, b: QuantParams | None) -> bool:
    return (
        a is not None
        and b is not None
        and float(a.scale[0]) == float(b.scale[0])
        and int(a.zero_point[0]) == int(b.zero_point[0])
    )


def _keeps_params(graph: Graph, t: Tensor) -> bool:
    """Whether `t`'s parameters are final: not about to be replaced by its input's when
    `propagate_same_scale` runs over the pass-through op that writes it."""
    producer = graph.producer(t)
    while producer is not None and op_facts(producer.type).same_scale and not is_float(producer):
        source = graph.inputs_of(producer)[0]
        if not _same(source.quant, t.quant):
            return False
        producer = graph.producer(source)
    return True


class UnifyConcatScales(Pass):
    name = "unify_concat_scales"
    phase = "quantize"
    modes = ("int8",)
    after = ("quantize_activations",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        bound: dict[str, str] = {}  # tensor -> the op whose parameters it now carries
        changed = False
        if not has_learned_ranges(graph):
            changed = self._unify_groups(graph, ctx)
        for op in [o for o in graph.ops() if op_facts(o.type).shared_input_scale]:
            target = graph.outputs_of(op)[0].quant
            if target is None:
                ctx.log(f"{op.name}: output has no quantization parameters; left alone")
                continue
            for port, t in enumerate(graph.inputs_of(op)):
                # No parameters yet (a QAT model's concat input, quantized by the concat's
                # quantizer): it simply takes the concat's.
                if _same(t.quant, target) and _keeps_params(graph, t):
                    bound.setdefault(t.name, op.name)
                    continue
                if t.is_constant:  # a constant is simply written at the shared parameters (saturating)
                    own = graph.const(graph.unique_name(f"{op.name}/input_{port}"), t.data, t.dtype)
                    own.quant = copy.deepcopy(target)
                    graph.set_input(op, port, own)
                    changed = True
                    continue
                why = self._why_not_rewrite(graph, t, bound)
                if why is None:
                    t.quant = copy.deepcopy(target)
                    bound[t.name] = op.name
                else:
                    self._requantize(graph, op, port, t, target)
                    ctx.log(f"{op.name}: requantize inserted for input {t.name}: {why}")
                changed = True
            ctx.log(
                f"{op.name}: {len(graph.inputs_of(op))} inputs share s={float(target.scale[0]):.6g} "
                f"z={int(target.zero_point[0])}"
            )
        return changed

    @staticmethod
    def _unify_groups(graph: Graph, ctx: PassContext) -> bool:
        def joinable(t: Tensor) -> bool:
            producer = graph.producer(t)
            return (
                not t.is_constant
                and t.quant is not None
                and observed_range(t) is not None
                and (
                    producer is None
                    or (op_facts(producer.type).fixed_output is None and not is_float(producer))
                )
            )

        links = nx.Graph()
        pinned: set[str] = set()  # pass-through outputs that will copy a non-joinable input's params
        for op in graph.ops():  # topological: a chain of pass-through ops pins end to end
            facts = op_facts(op.type)
            if is_float(op) or not (facts.shared_input_scale or facts.same_scale):
                continue
            out = graph.outputs_of(op)[0]
            ins = graph.inputs_of(op) if facts.shared_input_scale else graph.inputs_of(op)[:1]
            if facts.same_scale and not (joinable(ins[0]) and ins[0].name not in pinned):
                pinned.add(out.name)
                continue
            for t in ins:
                if joinable(out) and joinable(t) and t.name not in pinned:
                    links.add_edge(out.name, t.name, concat=facts.shared_input_scale)
        changed = False
        for group in nx.connected_components(links):
            if not any(d["concat"] for _, _, d in links.subgraph(group).edges(data=True)):
                continue  # only pass-through ops: propagate_same_scale's job
            ranges = [observed_range(graph.tensor(n)) for n in group]
            lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)  # type: ignore[index]
            params = activation_params(lo, hi)
            for n in group:
                graph.tensor(n).quant = copy.deepcopy(params)
            ctx.log(
                f"{len(group)} concat-linked tensors share s={float(params.scale[0]):.6g} over [{lo:.4g}, {hi:.4g}]"
            )
            changed = True
        return changed

    @staticmethod
    def _why_not_rewrite(graph: Graph, t: Tensor, bound: dict[str, str]) -> str | None:
        producer = graph.producer(t)
        if producer is not None and op_facts(producer.type).fixed_output is not None:
            return f"{producer.type} has fixed output parameters"
        if producer is not None and (
            op_facts(producer.type).same_scale or op_facts(producer.type).shared_input_scale
        ):
            return f"{producer.name} ({producer.type}) passes its input's parameters through"
        if t.name in bound:
            return f"it already carries the parameters of {bound[t.name]}"
        return None

    @staticmethod
    def _requantize(graph: Graph, op: Op, port: int, t: Tensor, target: QuantParams) -> None:
        out = graph.add_tensor(Tensor(f"{t.name}/requantized", t.shape, t.dtype, quant=copy.deepcopy(target)))
        graph.add_op(
            Op(f"{op.name}/requantize_{port}", "QUANTIZE", {}, {"reason": "concat scale"}), [t], [out]
        )
        graph.set_input(op, port, out)
