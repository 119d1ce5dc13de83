"""CONCATENATION(a: q_a, b: q_b, ...) -> out: q_out  =>  every input written at q_out

The int8 concat kernel needs every input at the output's scale and zero point. The output's
calibrated range covers all inputs, so its parameters are given to the inputs: their
producers then write at that scale directly, and no requantize op is needed. Where an
input cannot take them (its producer has fixed or pass-through output parameters, or the
tensor is already bound to another concat with other parameters), a requantizing
QUANTIZE is inserted for that input only and the report says so. MAXIMUM / MINIMUM share
the same rule.

    >>> UnifyConcatScales().run(graph, ctx)  # conv_a, conv_b -> CONCATENATION: conv_a, conv_b write at concat's q
"""

from __future__ import annotations

import copy

from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.ops import op_facts
from qgraph.pipeline import Pass, PassContext


def _same(a: QuantParams | None, b: QuantParams | None) -> bool:
    return (
        a is not None
        and b is not None
        and float(a.scale[0]) == float(b.scale[0])
        and int(a.zero_point[0]) == int(b.zero_point[0])
    )


class UnifyConcatScales(Pass):
    name = "unify_concat_scales"
    phase = "quantize"
    modes = ("int8",)
    after = ("quantize_activations",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        bound: dict[str, str] = {}  # tensor -> the op whose parameters it now carries
        changed = False
        for op in [o for o in graph.ops() if op_facts(o.type).shared_input_scale]:
            target = graph.outputs_of(op)[0].quant
            if target is None:
                ctx.log(f"{op.name}: output has no quantization parameters; left alone")
                continue
            for port, t in enumerate(graph.inputs_of(op)):
                # No parameters yet (a QAT model's concat input, quantized by the concat's
                # quantizer): it simply takes the concat's.
                if t.name in bound and _same(t.quant, target):
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
    def _why_not_rewrite(graph: Graph, t: Tensor, bound: dict[str, str]) -> str | None:
        if t.is_constant:
            return "it is a constant"
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
