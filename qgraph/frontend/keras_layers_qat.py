"""Lowerings of qgraph's own layers, so a QAT model (from `quantize_model`, trained, saved
or reloaded) loads back into the IR: `IROp` becomes its op again, and an
`ActivationQuantizer` becomes the learned range of the tensors it quantizes (no op). A
pruned or clustered weight (`qgraph.prune`, `qgraph.cluster`) keeps its constraint."""

from __future__ import annotations

import numpy as np

from qgraph.compress.constraints import set_constraint
from qgraph.errors import QGraphError
from qgraph.frontend.lowering import LowerCtx, lowers
from qgraph.ir import Op, Tensor
from qgraph.quant.annotations import (
    WeightFakeQuant,
    mark_float,
    mark_learned_ranges,
    set_observed_range,
    set_weight_fake_quants,
)


@lowers("qgraph.emit.keras.IROp")
def _ir_op(ctx: LowerCtx) -> list[Tensor]:
    """the op it holds | qgraph's own layer: a QAT model from qgraph.quantize_model loads back"""
    layer = ctx.layer
    inputs, it = [], iter(ctx.inputs)
    for port, spec in enumerate(layer.ports):
        if spec["kind"] == "input":
            inputs.append(next(it))
        elif spec["kind"] == "weight":
            weight = layer.port_weights[port]
            if port not in layer.constrained:
                inputs.append(ctx.const(spec.get("name", f"w{port}"), np.asarray(weight.numpy())))
                continue
            # A pruned or clustered weight: the values the model computes with, and the
            # constraint (mask, centroids, latent weights) for PQAT/CQAT and the export check.
            effective, constraint = layer.constrained[port].annotation(weight)
            inputs.append(ctx.const(spec.get("name", f"w{port}"), effective))
            set_constraint(inputs[-1], constraint)
        else:
            inputs.append(
                ctx.const(f"c{port}", np.asarray(spec["value"], dtype=spec["dtype"]), spec["dtype"])
            )
    out = ctx.graph.add_tensor(Tensor(f"{ctx.name}:0", ctx.out_shapes[0]))
    op = Op(ctx.name, layer.op_type, dict(layer.attrs), {"layer": layer.name, "class": "IROp"})
    # The export quantizes the weights exactly as training simulated them.
    set_weight_fake_quants(op, {p: WeightFakeQuant.from_config(c) for p, c in layer.weight_fq.items()})
    if layer.float_op:
        mark_float(op)
    ctx.graph.add_op(op, inputs, [out])
    return [out]


@lowers("qgraph.quant.layers.ActivationQuantizer")
def _activation_quantizer(ctx: LowerCtx) -> list[Tensor]:
    """none: its learned range annotates the tensor | qgraph's own layer; read by compile to export int8"""
    layer = ctx.layer
    if float(layer.initialized.numpy()) < 0.5:
        raise QGraphError(
            f"quantizer {layer.name!r} has no learned range yet: train the QAT model (fit) or give "
            "quantize_model representative_data to initialize the ranges"
        )
    if layer.num_bits != 8:
        raise QGraphError(
            f"quantizer {layer.name!r} simulates {layer.num_bits}-bit activations; the TFLite targets "
            "run 8-bit activations (int16x8 is not implemented): retrain with activation_bits=8"
        )
    lo, hi = float(layer.range_min.numpy()), float(layer.range_max.numpy())
    for t in ctx.inputs:
        set_observed_range(t, (lo, hi))
    mark_learned_ranges(ctx.graph)
    return list(ctx.inputs)
