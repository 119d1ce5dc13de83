"""optimized float IR  =>  the same IR annotated with where int8 inference quantizes (for QAT)

After BatchNorm folding and activation fusion, so fake-quant sits exactly where the int8
kernels round: on every op output (after its fused activation, never between a conv and
its activation), on graph inputs, and on weights (per-axis symmetric, narrow range).
- pass-through ops (pools, RESHAPE, PAD, resizes) get none: they keep their input's grid;
- a concat's output gets one quantizer shared by its inputs: inputs from ops that can
  write at any scale get no quantizer of their own (other readers of such an input see it
  through the concat's quantizer); others (fixed-range or pass-through producers) keep
  their own, as the exporter then requantizes them;
- SOFTMAX / LOGISTIC / TANH outputs get the kernels' fixed ranges.
Ops excluded by `ctx.options["select"]` (a predicate on the op) stay float; a tensor is
quantized when its producer or one of its readers is quantized.

Annotations (`qgraph.quant.annotations`): an `ActivationFakeQuant` per quantized tensor
(`set_fake_quant`), the graph's `QuantizerSpec`s (`set_quantizers`), a `WeightFakeQuant` per
fake-quantized constant port (`set_weight_fake_quants`: weights, or ADD/MUL operands as
affine), and `mark_float` on the ops left out.
"""

from __future__ import annotations

from qgraph.ir import Graph, Op, Tensor
from qgraph.ops import op_facts
from qgraph.options import Option
from qgraph.passes.quantize_weights import weight_axis
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import (
    ActivationFakeQuant,
    QuantizerSpec,
    WeightFakeQuant,
    fake_quant_of,
    is_float,
    mark_float,
    observed_range,
    set_fake_quant,
    set_quantizers,
    set_weight_fake_quants,
    weight_fake_quants,
)
from qgraph.quant.numerics import (
    dequantize,
    fixed_output_params,
)


def fixed_range(op_type: str) -> tuple[float, float]:
    q = fixed_output_params(op_type)
    import numpy as np

    lo, hi = dequantize(np.array([-128, 127], np.int8), q)
    return (float(lo), float(hi))


class InsertFakeQuant(Pass):
    name = "insert_fake_quant"
    phase = "quantize"
    modes = ("qat",)
    options = (
        Option("select", object, None, "a predicate on an op: which ops are quantized (default: all)"),
        Option("activation_bits", int, 8, "bits of the activation quantizers"),
        Option("weight_bits", int, 8, "bits of the weight quantizers"),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        select = ctx.option("select") or (lambda op: True)
        bits, wbits = ctx.option("activation_bits"), ctx.option("weight_bits")
        # Ops the frontend keeps float (a masked attention softmax) are not simulated in int8.
        quantized_ops = {op.name for op in graph.ops() if select(op) and not is_float(op)}
        quantizers: dict[str, QuantizerSpec] = {}

        def wants(t: Tensor) -> bool:
            producer = graph.producer(t)
            readers = graph.consumers(t)
            return (producer is not None and producer.name in quantized_ops) or any(
                r.name in quantized_ops for r in readers
            )

        def own(t: Tensor, fixed: tuple[float, float] | None = None) -> None:
            quantizers[t.name] = QuantizerSpec(bits, fixed)
            set_fake_quant(t, ActivationFakeQuant(t.name, observe=fixed is None))

        # Concats first: their free inputs use the concat's quantizer instead of their own.
        for op in graph.ops():
            if op_facts(op.type).shared_input_scale and op.name in quantized_ops:
                own(graph.outputs_of(op)[0])
                self._share(graph, op, graph.outputs_of(op)[0].name)
        for name in graph.inputs:
            t = graph.tensor(name)
            # Integer inputs (pixels, indices) are exact already: the CAST after them is quantized.
            if t.dtype == "float32" and wants(t) and fake_quant_of(t) is None:
                own(graph.tensor(name))
        for op in graph.ops():
            out = graph.outputs_of(op)[0]
            if op.name not in quantized_ops:
                mark_float(op)  # the exporter keeps it float too
            elif op_facts(op.type).has_weights and graph.inputs_of(op)[1].is_constant:
                # The axis the exporter will use (per tensor for dense, or everywhere on edgetpu).
                set_weight_fake_quants(op, {1: WeightFakeQuant(weight_axis(op.type, ctx), wbits)})
            else:
                consts = [
                    p for p, t in enumerate(graph.inputs_of(op)) if t.is_constant and t.dtype == "float32"
                ]
                if consts:
                    # ADD/MUL operands: int8 per tensor, affine
                    set_weight_fake_quants(op, {p: WeightFakeQuant(affine=True) for p in consts})
            if (
                fake_quant_of(out) is not None
                or not wants(out)
                or (op_facts(op.type).same_scale and op.name in quantized_ops)
            ):
                continue
            fixed = fixed_range(op.type) if op_facts(op.type).fixed_output else None
            if op.type == "CAST" and observed_range(out) is not None:
                fixed = observed_range(out)  # a uint8/int8 input's full range: its integers stay exact
            own(out, fixed)
        set_quantizers(graph, quantizers)
        weights = sum(1 for op in graph.ops() if any(not s.affine for s in weight_fake_quants(op).values()))
        ctx.log(
            f"{len(quantizers)} activation quantizers, {weights} weight quantizers; "
            f"{len(quantized_ops)} of {len(graph.ops())} ops quantized"
        )
        return True

    @staticmethod
    def _share(graph: Graph, op: Op, quantizer: str) -> None:
        for t in graph.inputs_of(op):
            producer = graph.producer(t)
            # A graph input is free too: its QUANTIZE can write at any scale.
            free = producer is None or not (
                op_facts(producer.type).fixed_output is not None
                or op_facts(producer.type).same_scale
                or op_facts(producer.type).shared_input_scale
            )
            if free and fake_quant_of(t) is None:
                set_fake_quant(t, ActivationFakeQuant(quantizer, observe=False, raw_for=(op.name,)))
