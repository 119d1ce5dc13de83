"""What calibration tells the user about the data it ran on, beyond the ranges.

Warnings go to a `warn(message)` callback: under `compile` the calibrate pass makes each a
report line and a `qgraph.notices.CompileWarning`; a direct `calibrate` (and
`quantize_model(representative_data=...)`) raises a `CalibrationWarning`.

- The cap (`qgraph.quant.samples`) cut the data short: a warning.
- An activation range that is not finite (the float model overflows or divides by zero on
  these inputs): an `OptionError` naming the tensors; int8 parameters cannot be computed.
- Degenerate ranges (min == max: one value on every sample): a warning naming the
  tensors, for any graph input (real inputs vary) and for activations when they are many
  (`DEGENERATE_SHARE`): constant or wrongly preprocessed data, or dead layers. A single
  constant activation is left alone: a model may compute a constant (`x - x`, a one-unit
  softmax) on purpose; so is an RNN's initial (zero) state.

Wrongly scaled data that still varies (0-255 pixels for a model trained on [0, 1]) cannot be
told from a model trained on that scale by ranges alone: no warning there.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.quant import samples as sample_source
from qgraph.quant.samples import Samples

#: warn when at least this share of the input-dependent activations has min == max.
DEGENERATE_SHARE = 0.25
#: tensors named in one message; the rest are counted.
SHOWN = 4


Warn = Callable[[str], None]


class CalibrationWarning(UserWarning):
    """The representative data calibrated, but the result is likely wrong or incomplete."""


def python_warning(log: Callable[[str], None], stacklevel: int = 4) -> Warn:
    """The `warn` of a direct call: the message in `log` and as a `CalibrationWarning`, shown
    at `stacklevel` (4: the line that called `calibrate`)."""

    def warn(message: str) -> None:
        log(f"warning: {message}")
        warnings.warn(message, CalibrationWarning, stacklevel=stacklevel)

    return warn


def check_cap(samples: Samples, max_samples: int | None, warn: Warn) -> None:
    if samples.full:
        warn(
            f"calibration held {samples.count} samples of representative_data in memory for the "
            f"percentile pass and stopped there (the {_bytes(sample_source.KEEP_BYTES)} budget for a "
            "generator, iterator or tf.data.Dataset); pass an array to use more",
        )
    elif samples.more and max_samples is None:
        warn(
            f"calibration used the first {samples.count} samples of representative_data and left the "
            f"rest (the default cap, max_calibration_samples={samples.limit}; an endless "
            "tf.data .repeat() or generator stops there too); pass max_calibration_samples=N to "
            "use more, or fewer samples to silence this",
        )


def check_ranges(
    graph: Graph,
    ranges: dict[str, tuple[float, float]],
    inputs: list[str],
    warn: Warn,
) -> None:
    broken = [n for n, (lo, hi) in ranges.items() if not (math.isfinite(lo) and math.isfinite(hi))]
    if broken:
        raise OptionError(
            f"calibration: the float model computes NaN or infinite values on representative_data "
            f"at {_names(broken, ranges)}: int8 parameters need finite ranges. The data may be "
            "scaled unlike the training data, or the model overflows (check it in Keras on the "
            "same samples)"
        )
    constant_inputs = [n for n in inputs if ranges[n][0] == ranges[n][1]]
    if constant_inputs:  # the activations follow from them: one warning says it
        return warn(
            f"calibration: input {_names(constant_inputs, ranges)} has one value in every sample of "
            "representative_data: its int8 range is empty. Calibrate on real inputs, preprocessed "
            "as in training",
        )
    reachable = _from_inputs(graph) - _initial_states(graph)
    computed = [n for n in ranges if n not in inputs and n in reachable]
    constant = [n for n in computed if ranges[n][0] == ranges[n][1]]
    if computed and len(constant) >= max(2, DEGENERATE_SHARE * len(computed)):
        warn(
            f"calibration: {len(constant)} of {len(computed)} activations have one value on all of "
            f"representative_data (min == max): {_names(constant, ranges)}. The data may be "
            "constant or scaled unlike the training data (e.g. 0-255 for a model trained on "
            "[0, 1]), or those layers dead",
        )


def _from_inputs(graph: Graph) -> set[str]:
    import networkx as nx

    reachable: set[str] = set()
    for name in graph.inputs:
        reachable |= nx.descendants(graph.nx, name)
    return reachable


def _initial_states(graph: Graph) -> set[str]:
    """The zero state an RNN op starts from (its variable inputs): constant by design."""
    from qgraph.emit.tflite import VARIABLE_INPUTS

    return {graph.inputs_of(op)[p].name for op in graph.ops() for p in op.attrs.get(VARIABLE_INPUTS, ())}


def _names(names: list[str], ranges: dict[str, tuple[float, float]]) -> str:
    shown = ", ".join(f"{n!r} ({_range(ranges[n])})" for n in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _range(span: tuple[float, float]) -> str:
    lo, hi = span
    return f"{lo:g}" if lo == hi else f"{lo:g} to {hi:g}"


def _bytes(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count} bytes"
