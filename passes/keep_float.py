"""keep_float=["layer", ...]  =>  those layers' ops marked float; int8 everywhere else

The float fallback for layers that lose too much in int8 (`qgraph verify --suggest` measures
which ones). `insert_float_boundaries` then puts DEQUANTIZE before and QUANTIZE after each
float island, as for a partially quantized QAT model. A name matches an op when it is the
op's name, the Keras layer the op came from (the op name's first `/` part), or the layer
whose output the op writes: after fusion the CONV_2D `stem` writes `stem_relu6:0`, so
"stem" and "stem_relu6" both keep it float. A name that matches no op is an error that
lists the names that do (a BatchNormalization folded into its conv has no op of its own).

    >>> qgraph.compile(model, quantize="int8", representative_data=x, keep_float=["head_conv"])
"""

from __future__ import annotations

from collections.abc import Sequence

from qgraph.errors import OptionError
from qgraph.ir import Graph, Op
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import mark_float

#: ops that only move int8 values in and out: never a layer a user keeps float.
_BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


def layer_names(graph: Graph, op: Op) -> set[str]:
    """The names that select `op`: its own, its layer's, and the layer whose output it writes."""
    names = {op.name, op.name.split("/")[0]}
    for t in graph.outputs_of(op):
        written = t.name.rsplit(":", 1)[0]
        names |= {written, written.split("/")[0]}
    return names


def float_refusal(target) -> str | None:
    """Why `target` cannot run a float op in an int8 model, or None if it can (a target of int8
    models only, unless its `allow_cpu` option lets ops fall back to the CPU)."""
    if target is None or "float" in target.quantize_modes or target.option_values.get("allow_cpu"):
        return None
    allow = (
        " (or pass allow_cpu=True, --option allow_cpu=true, to run them on the CPU)"
        if any(o.name == "allow_cpu" for o in target.options)
        else ""
    )
    return f"target {target.name!r} runs int8 models only, so no layer can stay float there{allow}"


class KeepFloat(Pass):
    name = "keep_float"
    phase = "quantize"
    modes = ("int8",)
    options = (
        Option(
            "keep_float",
            Sequence,
            (),
            "layer names whose ops stay float in an int8 model (float fallback; "
            "`qgraph verify --suggest` names the ones that recover the most)",
        ),
    )
    after = ("calibrate",)
    before = ("quantize_activations",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        wanted = ctx.option("keep_float") or ()
        if isinstance(wanted, str):
            raise OptionError(f"keep_float takes a list of layer names, e.g. keep_float=[{wanted!r}]")
        if not all(isinstance(name, str) for name in wanted):
            raise OptionError(f"keep_float takes layer names (str), got {list(wanted)!r}")
        refusal = float_refusal(ctx.target) if wanted else None
        if refusal:
            raise OptionError(f"keep_float: {refusal}")
        ops = [op for op in graph.ops() if op.type not in _BOUNDARY_OPS]
        selected: dict[str, list[str]] = {name: [] for name in wanted}
        for op in ops:
            for name in layer_names(graph, op) & set(wanted):
                selected[name].append(op.name)
        unknown = [name for name, hits in selected.items() if not hits]
        if unknown:
            known = sorted(
                {n for op in ops for n in layer_names(graph, op)} - {op.name for op in ops if "/" in op.name}
            )
            raise OptionError(
                f"keep_float names {', '.join(map(repr, unknown))}, which no op of the graph comes from "
                f"(a folded BatchNormalization or a removed Dropout has no op); layers that can stay "
                f"float: {', '.join(known)}"
            )
        kept = sorted({op_name for hits in selected.values() for op_name in hits})
        for op_name in kept:
            mark_float(graph.op(op_name))
        if kept:
            ctx.log(f"kept float on request: {', '.join(kept)}")
        return bool(kept)
