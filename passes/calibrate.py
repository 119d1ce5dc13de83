"""(float IR, representative data)  =>  every activation tensor annotated with its observed range (min, max)

Runs the optimized float graph on the representative data (`qgraph.quant.calibrate`): as
qgraph's own float `.tflite` in LiteRT, with in-graph min/max reductions (Keras emitter as
the fallback); min-max by default, or percentile clipping with
`calibration_method="percentile"` (a second pass over the same samples: a generator is read
once and kept). A stream (generator, tf.data) is read up to `max_calibration_samples`
samples (default 1000), so an endless one stops; arrays are used in full. Data mistakes are
`OptionError`s naming the sample and input, and degenerate ranges (a constant input, most
activations constant) are warnings. Tensors that
already carry a range (a QAT model's learned ranges) keep it, so no data is needed for them.

    >>> qgraph.compile(model, quantize="int8", representative_data=x_train[:100])
"""

from __future__ import annotations

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.notices import warn
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import has_learned_ranges, observed_range, set_observed_range
from qgraph.quant.calibrate import DEFAULT_MAX_SAMPLES, calibrate, observed_tensors


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
        Option(
            "max_calibration_samples",
            int,
            None,
            "calibrate on at most this many samples (default: all of an array; from a generator or "
            f"tf.data, {DEFAULT_MAX_SAMPLES}, with a warning when it has more, so .repeat() stops)",
        ),
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
        given = ctx.given or frozenset()
        if "percentile" in given and ctx.option("calibration_method") != "percentile":
            raise OptionError(
                f"percentile={ctx.options['percentile']!r} is only used with calibration_method='percentile' "
                f"(this compile uses {ctx.option('calibration_method')!r}): set both, or drop percentile"
            )
        missing = [n for n in observed_tensors(graph) if observed_range(graph.tensor(n)) is None]
        data = ctx.option("representative_data")
        if not missing or (data is None and has_learned_ranges(graph)):
            _refuse_unused_tuning(ctx, given)
            if data is not None:
                warn(graph, ctx, "representative_data is not used: every activation already has a range")
        if not missing:
            ctx.log("every activation already has a range: no calibration needed")
            return False
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
            warn=lambda message: warn(graph, ctx, message),
        )
        for name in missing:
            set_observed_range(graph.tensor(name), ranges[name])
        ctx.log(f"calibrated {len(missing)} activation ranges ({method})")
        return True


#: options that only change how calibration runs: an error when no calibration runs.
TUNING = ("calibration_method", "percentile", "max_calibration_samples", "calibration_runtime")


def _refuse_unused_tuning(ctx: PassContext, given: frozenset[str]) -> None:
    unused = [f"{n}={ctx.options[n]!r}" for n in TUNING if n in given]
    if unused:
        raise OptionError(
            f"{', '.join(unused)}: no calibration runs (every activation already has a range, e.g. "
            "learned by QAT), so this would be ignored; drop it"
        )
