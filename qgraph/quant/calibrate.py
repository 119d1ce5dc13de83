"""Calibration: run the float IR (through the Keras emitter) on representative data and
observe the range of every activation tensor.

Methods:
- ``minmax`` (default; what TFLiteConverter does): the smallest and largest value seen.
- ``percentile``: the `percentile`-th value from each tail (default 99.99), from a
  2048-bin histogram per tensor built in a second pass over the data. Clips rare outliers
  so the rest of the range gets finer steps; helps on long-tailed activations (no ReLU6
  clamp, e.g. residual sums, pre-softmax logits), hurts where the extremes matter.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.quant.data import iter_batches

METHODS = ("minmax", "percentile")
BINS = 2048
#: activations kept in memory per calibration batch (all observed tensors, float32).
BATCH_BYTES = 256 * 2**20
#: show a progress bar once calibration has run this long.
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
) -> dict[str, tuple[float, float]]:
    """{tensor name: (min, max)} for every activation of `graph`."""
    if not 50.0 < float(percentile) <= 100.0:
        raise OptionError(f"percentile={percentile} is not supported; use a value in (50, 100], e.g. 99.99")
    if method not in METHODS:
        raise OptionError(
            f"calibration_method={method!r} is not supported; choose one of {', '.join(METHODS)}"
        )
    from qgraph.emit.keras import to_keras

    names = observed_tensors(graph)
    model = to_keras(graph, outputs=names)
    per_sample = sum(4 * int(np.prod([max(d, 1) for d in graph.tensor(n).shape[1:]])) for n in names)
    batch = int(np.clip(BATCH_BYTES // max(per_sample, 1), 1, 64))
    lo = np.full(len(names), np.inf)
    hi = np.full(len(names), -np.inf)
    for outs in _run(model, data, graph, batch, max_samples, progress, "calibrating activation ranges"):
        lo = np.minimum(lo, [o.min() for o in outs])
        hi = np.maximum(hi, [o.max() for o in outs])
    if method == "percentile":
        lo, hi = _percentile_ranges(model, data, graph, batch, max_samples, progress, lo, hi, percentile)
    return {n: (float(a), float(b)) for n, a, b in zip(names, lo, hi, strict=True)}


def _run(model, data, graph, batch, max_samples, progress, label):
    import keras

    bar, start, samples = None, time.perf_counter(), 0
    for inputs in iter_batches(data, graph, batch, max_samples):
        outs = model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
        outs = outs if isinstance(outs, list | tuple) else [outs]
        samples += len(inputs[0])
        # A progress bar only on long runs (or when asked): short calibrations stay quiet.
        if (
            bar is None
            and progress is not False
            and (progress or time.perf_counter() - start > PROGRESS_AFTER_S)
        ):
            print(f"qgraph: {label}", file=sys.stderr)
            bar = keras.utils.Progbar(max_samples, unit_name="sample")
        if bar is not None:
            bar.update(samples)
        yield [np.asarray(o) for o in outs]


def _percentile_ranges(model, data, graph, batch, max_samples, progress, lo, hi, percentile):
    hist = np.zeros((len(lo), BINS))
    edges = [np.linspace(a, b if b > a else a + 1e-6, BINS + 1) for a, b in zip(lo, hi, strict=True)]
    for outs in _run(model, data, graph, batch, max_samples, progress, "building range histograms"):
        for i, o in enumerate(outs):
            hist[i] += np.histogram(o, bins=edges[i])[0]
    tail = (100.0 - percentile) / 100.0
    new_lo, new_hi = lo.copy(), hi.copy()
    for i in range(len(lo)):
        cdf = np.cumsum(hist[i]) / max(hist[i].sum(), 1)
        new_lo[i] = edges[i][int(np.searchsorted(cdf, tail))]
        new_hi[i] = edges[i][int(np.searchsorted(cdf, 1.0 - tail)) + 1]
    return new_lo, new_hi
