"""representative_data -> batches for the observer: read at most `max_samples` samples, once.

A one-shot source (generator, iterator, `tf.data.Dataset`) is capped at
`DEFAULT_MAX_SAMPLES` unless the caller gives `max_samples`: an endless `.repeat()` or
generator stops there instead of running forever, and the caller can say "the data had
more" (`Samples.more`). Arrays, lists and dicts are finite and already in memory: used in
full unless `max_samples` is given. A second pass (percentile histograms)
re-reads arrays, lists and dicts; a one-shot source (generator, iterator, `tf.data.Dataset`,
which may shuffle or read files) is kept in memory as it is read the first time, up to
`KEEP_BYTES`, and replayed.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.quant.data import as_batch, items

#: samples read when the caller sets no max_calibration_samples (about 10x what calibration
#: needs: ranges settle within a few hundred samples).
DEFAULT_MAX_SAMPLES = 1000
#: input samples held for a second pass over a one-shot source (1000 images 224x224x3 float32
#: are 602 MB, so large inputs stop earlier).
KEEP_BYTES = 512 * 2**20


class Samples:
    """`data` as batches of K float32 arrays, the same samples on every `batches()` call."""

    def __init__(self, data: Any, graph: Graph, max_samples: int | None = None, keep: bool = False):
        if max_samples is not None and (
            not isinstance(max_samples, numbers.Integral) or isinstance(max_samples, bool) or max_samples < 1
        ):
            raise OptionError(
                f"max_calibration_samples={max_samples!r} is not supported; give a whole number >= 1 "
                f"(default {DEFAULT_MAX_SAMPLES})"
            )
        self.data, self.graph = data, graph
        one_shot = not isinstance(data, np.ndarray | dict | list | tuple)
        default = DEFAULT_MAX_SAMPLES if one_shot else None
        self.limit: int | None = default if max_samples is None else int(max_samples)
        self.count = 0  # samples read (after a complete pass)
        self.more = False  # the data has samples beyond those read
        self.full = False  # reading stopped at KEEP_BYTES
        self._kept: list[list[np.ndarray]] | None = [] if keep and one_shot else None
        self._read_once = False

    def batches(self, batch_size: int) -> Iterator[list[np.ndarray]]:
        """Batches of at most `batch_size` samples (samples of another shape batch apart)."""
        source = iter(self._kept) if self._kept is not None and self._read_once else self._read()
        return _rebatch(source, batch_size)

    def _read(self) -> Iterator[list[np.ndarray]]:
        count, kept = 0, 0
        source = items(self.data, self.graph)
        for where, item in source:
            batch = as_batch(item, self.graph, where, count)
            if self.limit is not None and len(batch[0]) > self.limit - count:
                batch = [b[: self.limit - count] for b in batch]
                self.more = True
            if len(batch[0]) == 0:
                continue
            count += len(batch[0])
            if self._kept is not None:
                batch = [b.copy() for b in batch]  # a generator may refill one buffer in place
                self._kept.append(batch)
                kept += sum(b.nbytes for b in batch)
                self.full = kept >= KEEP_BYTES and (self.limit is None or count < self.limit)
            yield batch
            if (self.limit is not None and count >= self.limit) or self.full:
                # One look ahead (an endless source has more): the warning says data was left.
                self.more = self.more or next(source, None) is not None
                break
        if count == 0:
            raise OptionError("representative_data yielded no samples")
        self.count, self._read_once = count, True


def _rebatch(source: Iterator[list[np.ndarray]], batch_size: int) -> Iterator[list[np.ndarray]]:
    pending: list[list[np.ndarray]] = []
    for batch in source:
        for k in range(0, len(batch[0]), batch_size):
            part = [b[k : k + batch_size] for b in batch]
            if pending and [p.shape[1:] for p in part] != [p.shape[1:] for p in pending[0]]:
                yield _join(pending)  # samples of another size (a model with dynamic H/W) batch apart
                pending = []
            pending.append(part)
            if sum(len(p[0]) for p in pending) >= batch_size:
                yield _join(pending)
                pending = []
    if pending:
        yield _join(pending)


def _join(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
