"""(float IR, representative data)  =>  every activation tensor annotated with meta["range"] = (min, max)

Runs the optimized float graph through the Keras emitter on the representative data
(`qgraph.quant.calibrate`): min-max by default, or percentile clipping with
`calibration_method="percentile"`. Tensors that already carry a range (a QAT model's
learned ranges) keep it, so no data is needed for them.

    >>> qgraph.compile(model, quantize="int8", representative_data=x_train[:100])
"""

from __future__ import annotations

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.calibrate import calibrate, observed_tensors


class Calibrate(Pass):
    name = "calibrate"
    phase = "quantize"
    modes = ("int8",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        missing = [n for n in observed_tensors(graph) if "range" not in graph.tensor(n).meta]
        if not missing:
            ctx.log("every activation already has a range: no calibration needed")
            return False
        data = ctx.options.get("representative_data")
        if data is None and graph.meta.get("qat"):
            ctx.log(
                f"QAT model: learned ranges used; {len(missing)} tensors without one inherit parameters "
                "(pass-through ops, concat inputs) or stay float (layers left out of QAT)"
            )
            return False
        if data is None:
            raise OptionError(
                f"quantize='int8' needs representative_data: {len(missing)} activation tensors have no range "
                f"(first: {missing[0]!r}). Pass about 100 typical input samples, e.g. "
                "qgraph.compile(model, quantize='int8', representative_data=x_train[:100]), "
                "or on the CLI --calibration samples.npy"
            )
        method = ctx.options.get("calibration_method", "minmax")
        ranges = calibrate(
            graph,
            data,
            method=method,
            percentile=ctx.options.get("percentile", 99.99),
            max_samples=ctx.options.get("max_calibration_samples"),
            progress=ctx.options.get("progress"),
        )
        for name in missing:
            graph.tensor(name).meta["range"] = ranges[name]
        ctx.log(f"calibrated {len(missing)} activation ranges ({method})")
        return True
