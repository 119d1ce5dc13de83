"""(float IR, representative data)  =>  every activation tensor annotated with its observed range (min, max)

Runs the optimized float graph on the representative data (`qgraph.quant.calibrate`): as
qgraph's own float `.tflite` in LiteRT, with in-graph min/max reductions (Keras emitter as
the fallback); min-max by default, or percentile clipping with
`calibration_method="percentile"`. Tensors that already carry a range (a QAT model's
learned ranges) keep it, so no data is needed for them.

    >>> qgraph.compile(model, quantize="int8", representative_data=x_train[:100])
"""

from __future__ import annotations

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import has_learned_ranges, observed_range, set_observed_range
from qgraph.quant.calibrate import calibrate, observed_tensors


class Calibrate(Pass):
    name = "calibrate"
    phase = "quantize"
    modes = ("int8",)
    options = (
        Option(
            "representative_data",
            object,
            None,
            "about 100 typical input samples: an array, a list, a dict by input name, an iterator "
            "or a tf.data.Dataset (CLI: --calibration FILE)",
        ),
        Option(
            "calibration_method",
            str,
            "minmax",
            "minmax (as TFLiteConverter) or percentile (clips the tails)",
            choices=("minmax", "percentile"),
        ),
        Option(
            "percentile",
            float,
            99.99,
            "calibration_method='percentile': the share of values kept, in (50, 100]",
        ),
        Option("max_calibration_samples", int, None, "calibrate on at most this many samples (default: all)"),
        Option(
            "calibration_runtime",
            str,
            "auto",
            "what runs the float graph: litert (qgraph's float .tflite, fast), keras (the Keras "
            "emitter), or auto (LiteRT; Keras when LiteRT cannot run the graph)",
            choices=("auto", "litert", "keras"),
        ),
        Option("progress", bool, None, "show a progress bar (default: only when calibration runs long)"),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        missing = [n for n in observed_tensors(graph) if observed_range(graph.tensor(n)) is None]
        if not missing:
            ctx.log("every activation already has a range: no calibration needed")
            return False
        data = ctx.option("representative_data")
        if data is None and has_learned_ranges(graph):
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
        method = ctx.option("calibration_method")
        ranges = calibrate(
            graph,
            data,
            method=method,
            percentile=ctx.option("percentile"),
            max_samples=ctx.option("max_calibration_samples"),
            progress=ctx.option("progress"),
            runtime=ctx.option("calibration_runtime"),
            names=missing,
            log=ctx.log,
        )
        for name in missing:
            set_observed_range(graph.tensor(name), ranges[name])
        ctx.log(f"calibrated {len(missing)} activation ranges ({method})")
        return True
