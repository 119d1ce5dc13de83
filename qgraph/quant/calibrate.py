"""Calibration: run the float IR on representative data and observe the range of every
activation tensor (`qgraph.quant.observers` says how it runs: LiteRT by default).

Methods:
- ``minmax`` (default; what TFLiteConverter does): the smallest and largest value seen.
- ``percentile``: the `percentile`-th value from each tail (default 99.99), from a
  2048-bin histogram per tensor built in a second pass over the same samples (a generator
  is read once and kept: `qgraph.quant.samples`). Clips rare outliers so the rest of the
  range gets finer steps; helps on long-tailed activations (no ReLU6 clamp, e.g. residual
  sums, pre-softmax logits), hurts where the extremes matter.

Arrays, lists and dicts are used in full unless `max_samples` caps them; a stream (generator,
iterator, `tf.data`) is read up to `max_samples` (default `DEFAULT_MAX_SAMPLES`, with a warning
when it has more). The ranges are checked (`qgraph.quant.calibration_checks`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.quant.calibration_checks import CalibrationWarning, Warn, check_cap, check_ranges, python_warning
from qgraph.quant.observers import RUNTIMES
from qgraph.quant.runtime import Runner
from qgraph.quant.samples import DEFAULT_MAX_SAMPLES, Samples

__all__ = ["DEFAULT_MAX_SAMPLES", "METHODS", "CalibrationWarning", "calibrate", "observed_tensors"]

METHODS = ("minmax", "percentile")
BINS = 2048
#: show progress once calibration has run this long.
PROGRESS_AFTER_S = 5.0


def observed_tensors(graph: Graph) -> list[str]:
    """Every float activation: graph inputs and op outputs (constants are weights)."""
    names = [n for n in graph.inputs if graph.tensor(n).dtype == "float32"]  # int32 indices stay int32
    for op in graph.ops():
        names += [t.name for t in graph.outputs_of(op) if t.dtype == "float32" and t.name not in names]
    return names


def calibrate(
    graph: Graph,
    data: Any,
    method: str = "minmax",
    percentile: float = 99.99,
    max_samples: int | None = None,
    progress: bool | None = None,
    runtime: str = "auto",
    names: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
    warn: Warn | None = None,
) -> dict[str, tuple[float, float]]:
    """{tensor name: (min, max)} for `names` (default: every activation of `graph`).

    `runtime`: "litert" runs qgraph's own float `.tflite`, "keras" the Keras emitter's model;
    "auto" is LiteRT, falling back to Keras (with a `log` line saying why) when LiteRT
    cannot run the graph. Reads at most `max_samples` samples (None: all of an array, list or
    dict; `DEFAULT_MAX_SAMPLES` of a stream: `qgraph.quant.samples`).
    Data that looks wrong goes to `warn(message)` (default: `log` and a `CalibrationWarning`)."""
    if not 50.0 < float(percentile) <= 100.0:
        raise OptionError(f"percentile={percentile} is not supported; use a value in (50, 100], e.g. 99.99")
    if method not in METHODS:
        raise OptionError(
            f"calibration_method={method!r} is not supported; choose one of {', '.join(METHODS)}"
        )
    if runtime not in RUNTIMES:
        raise OptionError(
            f"calibration_runtime={runtime!r} is not supported; choose one of {', '.join(RUNTIMES)}"
        )
    names = list(observed_tensors(graph) if names is None else names)
    inputs = [n for n in graph.inputs if n in names]  # observed straight from the data
    computed = [n for n in names if n not in inputs]
    log = log or (lambda _: None)
    warn = warn or python_warning(log)
    samples = Samples(data, graph, max_samples, keep=method == "percentile")
    run = Runner(graph, computed, runtime, reduce=True, log=log)
    lo = np.full(len(names), np.inf)
    hi = np.full(len(names), -np.inf)
    for batch in _batches(run, samples, max_samples, progress, "calibrating activation ranges"):
        batch_lo, batch_hi = run.ranges(batch)
        given = {n: x for n, x in zip(graph.inputs, batch, strict=True)}
        batch_lo = np.concatenate([[given[n].min() for n in inputs], batch_lo])
        batch_hi = np.concatenate([[given[n].max() for n in inputs], batch_hi])
        lo, hi = np.minimum(lo, batch_lo), np.maximum(hi, batch_hi)
    order = inputs + computed
    where = "LiteRT" if run.runtime == "litert" else "Keras"
    log(f"ran the float graph on {samples.count} samples in {where}")
    check_cap(samples, max_samples, warn)
    ranges = {n: (float(a), float(b)) for n, a, b in zip(order, lo, hi, strict=True)}
    check_ranges(graph, ranges, inputs, warn)  # before histograms: their bins need finite ranges
    if method == "percentile":
        run = Runner(graph, computed, run.runtime, reduce=False, log=log)
        lo, hi = _percentile_ranges(run, samples, inputs, max_samples, progress, lo, hi, percentile)
        ranges = {n: (float(a), float(b)) for n, a, b in zip(order, lo, hi, strict=True)}
    return {n: ranges[n] for n in names}


def _batches(run: Runner, source: Samples, max_samples, progress, label) -> Iterator[list[np.ndarray]]:
    shapes = [run.graph.tensor(n).shape[1:] for n in run.names]
    per_sample = sum(4 * int(np.prod([max(d, 1) for d in shape])) for shape in shapes)
    size = run.batch_size(per_sample)
    start = last = time.perf_counter()
    samples, shown = 0, False

    def show() -> None:
        total = f"/{max_samples}" if max_samples else ""
        rate = samples / max(time.perf_counter() - start, 1e-9)
        print(f"\rqgraph: {label}: {samples}{total} samples ({rate:.0f}/s)", end="", file=sys.stderr)

    for batch in source.batches(size):
        yield batch
        samples += len(batch[0])
        now = time.perf_counter()
        # Progress only on long runs (or when asked), redrawn at most twice a second.
        if progress is not False and (progress or now - start > PROGRESS_AFTER_S) and now - last > 0.5:
            show()
            shown, last = True, now
    if shown or progress:
        show()
        print(file=sys.stderr)


def _percentile_ranges(run, samples, inputs, max_samples, progress, lo, hi, percentile):
    hist = np.zeros((len(lo), BINS))
    edges = [np.linspace(a, b if b > a else a + 1e-6, BINS + 1) for a, b in zip(lo, hi, strict=True)]
    for batch in _batches(run, samples, max_samples, progress, "building range histograms"):
        given = {n: x for n, x in zip(run.graph.inputs, batch, strict=True)}
        for i, o in enumerate([given[n] for n in inputs] + run.values(batch)):
            hist[i] += np.histogram(o, bins=edges[i])[0]
    tail = (100.0 - percentile) / 100.0
    new_lo, new_hi = lo.copy(), hi.copy()
    for i in range(len(lo)):
        cdf = np.cumsum(hist[i]) / max(hist[i].sum(), 1)
        new_lo[i] = edges[i][int(np.searchsorted(cdf, tail))]
        new_hi[i] = edges[i][int(np.searchsorted(cdf, 1.0 - tail)) + 1]
    return new_lo, new_hi
