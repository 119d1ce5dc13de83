"""Which observer runs calibration, and the switch to Keras when LiteRT cannot run the graph.

Under `runtime="auto"`, LiteRT first; Keras takes over from the batch at which LiteRT fails
(both compute the same function, so ranges from before and after the switch merge).
`runtime="litert"` turns LiteRT's refusal into an `OptionError` instead.
"""

from __future__ import annotations

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.quant.observers import KerasObserver, LiteRTObserver

#: activations held per batch when the observer returns whole tensors (histograms, Keras).
BATCH_BYTES = 256 * 2**20
#: activations per batch when LiteRT reduces in-graph: small enough to stay in cache.
REDUCED_BATCH_BYTES = 8 * 2**20


class Runner:
    """The observer for the chosen runtime; under "auto", Keras takes over from the batch at
    which LiteRT fails (both compute the same function, so the ranges can be merged)."""

    def __init__(self, graph: Graph, names: list[str], runtime: str, reduce: bool, log) -> None:
        self.graph, self.names, self.runtime, self.reduce, self.log = graph, names, runtime, reduce, log
        self.observer: LiteRTObserver | KerasObserver | None = None
        if names and runtime != "keras":
            try:
                self.observer = LiteRTObserver(graph, names, reduce)
            except Exception as exc:  # any refusal (an op LiteRT lacks, a plugin op) -> Keras
                self._fall_back(exc)
        if names and self.observer is None:
            self.observer = KerasObserver(graph, names)
            self.runtime = "keras"
        if self.runtime == "auto":
            self.runtime = "litert"

    def _fall_back(self, exc: Exception) -> None:
        if self.runtime == "litert":
            raise OptionError(
                f"calibration_runtime='litert': LiteRT cannot run the float graph: {exc}"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.log(f"calibrating through Keras: LiteRT cannot run the float graph ({first})")
        self.observer = KerasObserver(self.graph, self.names)
        self.runtime = "keras"

    def batch_size(self, per_sample: int) -> int:
        budget = REDUCED_BATCH_BYTES if self.runtime == "litert" and self.reduce else BATCH_BYTES
        size = int(np.clip(budget // max(per_sample, 1), 1, 64))
        fixed = self.observer.max_batch() if isinstance(self.observer, LiteRTObserver) else None
        return size if fixed is None else fixed

    def _call(self, method: str, batch: list[np.ndarray]):
        if self.observer is None:
            return [] if method == "values" else (np.zeros(0), np.zeros(0))
        try:
            return getattr(self.observer, method)(_padded(batch, self))
        except Exception as exc:
            if not isinstance(self.observer, LiteRTObserver):
                raise
            self._fall_back(exc)
            return getattr(self.observer, method)(batch)

    def ranges(self, batch: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return self._call("ranges", batch)

    def values(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        return self._call("values", batch)


def _padded(batch: list[np.ndarray], run: Runner) -> list[np.ndarray]:
    """A last, short batch for a file with a fixed batch size, filled up with copies of its
    last sample: min and max do not change. (Histograms count every value, so they are never
    padded: LiteRT refuses the short batch and Keras, with a dynamic batch, takes over.)"""
    fixed = run.observer.max_batch() if isinstance(run.observer, LiteRTObserver) else None
    if fixed is None or len(batch[0]) == fixed or not run.reduce:
        return batch
    return [np.concatenate([x, np.repeat(x[-1:], fixed - len(x), axis=0)]) for x in batch]
