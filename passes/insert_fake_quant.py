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

Annotations: `tensor.meta["fq"] = {"quantizer": name, "observe": bool}`,
`tensor.meta["fq_raw_for"] = [op names reading the raw value]`,
`graph.meta["quantizers"] = {name: {"bits", "fixed"}}`, `op.meta["weight_fq"] = {"axis", "bits"}`,
`op.meta["const_fq"] = [ports of other float constants]`, `op.meta["float"] = True` (left out).
"""

from __future__ import annotations

from qgraph.ir import Graph, Op, Tensor
from qgraph.ir.layout import OUTPUT_CHANNEL_AXIS
from qgraph.passes.quantize_weights import weight_axis
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.numerics import (
    FIXED_OUTPUT,
    SAME_SCALE,
    SHARED_INPUT_SCALE,
    dequantize,
    fixed_output_params,
)


def fixed_range(op_type: str) -> list[float]:
    q = fixed_output_params(op_type)
    import numpy as np

    lo, hi = dequantize(np.array([-128, 127], np.int8), q)
    return [float(lo), float(hi)]


class InsertFakeQuant(Pass):
    name = "insert_fake_quant"
    phase = "quantize"
    modes = ("qat",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        select = ctx.options.get("select") or (lambda op: True)
        bits, wbits = ctx.options.get("activation_bits", 8), ctx.options.get("weight_bits", 8)
        quantized_ops = {op.name for op in graph.ops() if select(op)}
        quantizers: dict[str, dict] = {}

        def wants(t: Tensor) -> bool:
            producer = graph.producer(t)
            readers = graph.consumers(t)
            return (producer is not None and producer.name in quantized_ops) or any(
                r.name in quantized_ops for r in readers
            )

        def own(t: Tensor, fixed: list[float] | None = None) -> None:
            quantizers[t.name] = {"bits": bits, "fixed": fixed}
            t.meta["fq"] = {"quantizer": t.name, "observe": fixed is None}

        # Concats first: their free inputs use the concat's quantizer instead of their own.
        for op in graph.ops():
            if op.type in SHARED_INPUT_SCALE and op.name in quantized_ops:
                own(graph.outputs_of(op)[0])
                self._share(graph, op, graph.outputs_of(op)[0].name)
        for name in graph.inputs:
            if wants(graph.tensor(name)) and "fq" not in graph.tensor(name).meta:
                own(graph.tensor(name))
        for op in graph.ops():
            out = graph.outputs_of(op)[0]
            if op.name not in quantized_ops:
                op.meta["float"] = True  # the exporter keeps it float too
            elif op.type in OUTPUT_CHANNEL_AXIS and graph.inputs_of(op)[1].is_constant:
                # The axis the exporter will use (per tensor for dense, or everywhere on edgetpu).
                op.meta["weight_fq"] = {"axis": weight_axis(op.type, ctx), "bits": wbits}
            else:
                consts = [
                    p for p, t in enumerate(graph.inputs_of(op)) if t.is_constant and t.dtype == "float32"
                ]
                if consts:
                    op.meta["const_fq"] = consts  # ADD/MUL operands: int8 per tensor, affine
            if "fq" in out.meta or not wants(out) or (op.type in SAME_SCALE and op.name in quantized_ops):
                continue
            own(out, fixed_range(op.type) if op.type in FIXED_OUTPUT else None)
        graph.meta["quantizers"] = quantizers
        weights = sum(1 for op in graph.ops() if "weight_fq" in op.meta)
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
                producer.type in FIXED_OUTPUT
                or producer.type in SAME_SCALE
                or producer.type in SHARED_INPUT_SCALE
            )
            if free and "fq" not in t.meta:
                t.meta["fq"] = {"quantizer": quantizer, "observe": False}
                t.meta.setdefault("fq_raw_for", []).append(op.name)
