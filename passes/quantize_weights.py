"""float weights/bias of CONV_2D|DEPTHWISE_CONV_2D|FULLY_CONNECTED  =>  int8 weights (symmetric, [-127, 127]) + int32 bias
other float constants (ADD/MUL operands)                         =>  int8 per-tensor (affine)

Weights per axis: CONV_2D on dim 0, DEPTHWISE_CONV_2D on dim 3 (the output channel);
FULLY_CONNECTED per tensor unless `per_channel_dense=True` (newer runtimes), or per tensor
everywhere when the target has no per-axis support (EdgeTPU). Bias scale is exactly
float32(input_scale * weight_scale), zero point 0. Only annotates: `materialize_int8`
writes the integers. A QAT model's weights keep the axis and bits training simulated, except
per-channel weights on a target without per-axis support: those are requantized per tensor
from the float weights, with a warning (`per_channel_dense=True` there is refused).

    >>> QuantizeWeights().run(graph, ctx)  # conv/kernel f32[16,3,3,1]  =>  q(axis=0, n=16)
"""

from __future__ import annotations

from qgraph.errors import OptionError
from qgraph.ir import Graph, Op
from qgraph.notices import warn
from qgraph.ops import op_facts
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import is_float, weight_fake_quants
from qgraph.quant.numerics import activation_params, bias_params, weight_params, widen_for_bias


def weight_axis(op_type: str, ctx: PassContext) -> int | None:
    per_axis = ctx.target is None or ctx.target.per_axis_weights
    if op_type == "FULLY_CONNECTED" and not ctx.option("per_channel_dense"):
        return None
    return op_facts(op_type).output_channel_axis if per_axis else None


def runs_in_int8(graph: Graph, op: Op) -> bool:
    """An op runs in int8 when every activation it reads and writes has parameters, unless a
    QAT model left it out (`is_float(op)`) or TFLite has no int8 kernel for it (`OpDef.int8`)."""
    if is_float(op) or not op_facts(op.type).int8:
        return False
    # Integer activations (GATHER's indices) are not quantized: they do not make an op float.
    acts = [
        t
        for t in graph.inputs_of(op) + graph.outputs_of(op)
        if not t.is_constant and t.dtype not in ("int32", "int64", "bool")
    ]
    return all(t.quant is not None for t in acts)


class QuantizeWeights(Pass):
    name = "quantize_weights"
    phase = "quantize"
    modes = ("int8",)
    options = (
        Option(
            "per_channel_dense",
            bool,
            False,
            "per-channel FULLY_CONNECTED weights (default per tensor, as the int8 spec)",
        ),
    )
    after = ("propagate_same_scale",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        per_axis = ctx.target is None or ctx.target.per_axis_weights
        if ctx.options.get("per_channel_dense") and not per_axis:
            raise OptionError(
                f"per_channel_dense=True: target {_target_name(ctx)} runs per-tensor weights only "
                "(no per-axis quantization), so FULLY_CONNECTED weights stay per tensor; drop the option"
            )
        weights = other = 0
        requantized: list[str] = []
        for op in graph.ops():
            ins = graph.inputs_of(op)
            if not runs_in_int8(graph, op):
                continue
            facts = op_facts(op.type)
            if facts.output_channel_axis is not None:
                # Ports from the OpDef (conv's 1, 2 by default): TRANSPOSE_CONV reads (output_shape, weights, x, bias).
                w, b = ins[facts.weight_port or 1], ins[facts.bias_port or 2]
                x = next((t for t in ins if not t.is_constant), ins[0])
                if w.data is None or b.data is None:
                    ctx.log(f"kept {op.name} float: its weights are not constant")
                    continue
                # A QAT model's weights: exactly the axis and bits training simulated.
                trained = weight_fake_quants(op).get(1)
                if trained is not None and not trained.affine:
                    axis, bits = trained.axis, trained.bits
                    if axis is not None and not per_axis:
                        # The float weights are in the QAT model: per tensor is exact from them.
                        axis = None
                        requantized.append(op.name)
                else:
                    axis, bits = weight_axis(op.type, ctx), 8
                w.quant = weight_params(w.data, axis, bits=bits)
                assert x.quant is not None, f"{op.name}: input {x.name} has no quantization parameters"
                if widen_for_bias(w.quant, b.data, float(x.quant.scale[0])):
                    ctx.log(f"{op.name}: weight scale widened so the int32 bias fits")
                b.quant = bias_params(x.quant, w.quant)
                weights += 1
                continue
            for t in ins:
                if t.is_constant and t.dtype == "float32" and t.quant is None:
                    assert t.data is not None
                    t.quant = activation_params(float(t.data.min()), float(t.data.max()))
                    other += 1
        if requantized:
            warn(
                graph,
                ctx,
                f"the QAT model trained per-channel weights for {len(requantized)} ops ("
                + ", ".join(requantized[:4])
                + (" ..." if len(requantized) > 4 else "")
                + f"); target {_target_name(ctx)} runs per-tensor weights only, so they are "
                "requantized per tensor (the learned activation ranges stay). Train for the target: "
                f"{_quantize_model_call(ctx)}",
            )
        ctx.log(f"quantized the weights of {weights} conv/dense ops and {other} other constants")
        return weights + other > 0


def _target_name(ctx: PassContext) -> str:
    if ctx.target is None:
        return "?"
    level = ctx.target.option_values.get("api_level")
    return f"{ctx.target.name!r}" + (f" (api_level={level})" if level is not None else "")


def _quantize_model_call(ctx: PassContext) -> str:
    name = ctx.target.name if ctx.target is not None else "cpu"
    level = ctx.target.option_values.get("api_level") if ctx.target is not None else None
    return f"qgraph.quantize_model(model, target={name!r}" + (f", api_level={level})" if level else ")")
