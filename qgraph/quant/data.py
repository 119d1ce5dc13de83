"""Representative data in every form a user has it -> batches the calibrator can run.

Accepted (for a model with K inputs of ranks r_1..r_K, batch dimension included):
- an array: of rank r_1 (a batch of samples) or r_1 - 1 (one sample); K must be 1;
- a list/tuple of K arrays (one per input, each a batch or one sample) when K > 1;
  for K == 1 a list/tuple of arrays is a list of samples (or batches);
- a dict {input name: array} (as Keras takes multi-input data);
- an iterable or generator of any of the above (streamed: never held in memory at once);
- a `tf.data.Dataset` of any of the above (batched or not).
`.npy` / `.npz` files (CLI `--calibration`) are loaded into the first or the dict form.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph


def load_calibration_file(path: str | os.PathLike) -> Any:
    """`.npy`: one array (batch of samples) for a 1-input model. `.npz`: one array per
    input, keyed by input name (or `arr_0`, `arr_1`, ... in input order)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise OptionError(f"calibration file {path!r} does not exist")
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise OptionError(f"calibration file {path!r}: use a .npy (one input) or .npz (one array per input)")


def iter_batches(
    data: Any, graph: Graph, batch_size: int, limit: int | None = None
) -> Iterator[list[np.ndarray]]:
    """Yield lists of K float32 arrays, each with a batch dimension of at most `batch_size`,
    for at most `limit` samples in all."""
    ranks = [len(graph.tensor(n).shape) for n in graph.inputs]
    pending: list[list[np.ndarray]] = []
    seen = 0
    for item in _items(data, graph):
        batch = _as_batch(item, graph, ranks)
        for k in range(0, len(batch[0]), batch_size):
            part = [b[k : k + batch_size] for b in batch]
            if limit is not None:
                part = [p[: limit - seen] for p in part]
            if len(part[0]) == 0:
                break
            if pending and [p.shape[1:] for p in part] != [p.shape[1:] for p in pending[0]]:
                yield _join(pending)  # samples of another size (a model with dynamic H/W) batch apart
                pending = []
            pending.append(part)
            seen += len(part[0])
            if sum(len(p[0]) for p in pending) >= batch_size:
                yield _join(pending)
                pending = []
        if limit is not None and seen >= limit:
            break
    if pending:
        yield _join(pending)
    if seen == 0:
        raise OptionError("representative_data yielded no samples")


def _join(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def _items(data: Any, graph: Graph) -> Iterator[Any]:
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        yield from data.as_numpy_iterator()
    elif isinstance(data, np.ndarray | dict):
        yield data
    elif (
        isinstance(data, list | tuple)
        and len(graph.inputs) > 1
        and len(data) == len(graph.inputs)
        and all(isinstance(d, np.ndarray) for d in data)
    ):
        yield list(data)
    elif isinstance(data, str | bytes):
        raise OptionError(
            "representative_data is a string; pass arrays, or load a file with load_calibration_file"
        )
    elif hasattr(data, "__iter__"):
        yield from data
    else:
        raise OptionError(
            f"representative_data of type {type(data).__name__} is not supported: pass an array, "
            "a list of arrays, a dict, an iterable/generator of samples, or a tf.data.Dataset"
        )


def _as_batch(item: Any, graph: Graph, ranks: list[int]) -> list[np.ndarray]:
    if isinstance(item, dict):
        missing = [n for n in graph.inputs if n not in item]
        if missing and all(f"arr_{i}" in item for i in range(len(ranks))):
            item = [item[f"arr_{i}"] for i in range(len(ranks))]
        elif missing:
            raise OptionError(f"representative_data dict lacks inputs {missing}; it has {sorted(item)}")
        else:
            item = [item[n] for n in graph.inputs]
    if isinstance(item, list | tuple):
        if len(item) != len(ranks):
            raise OptionError(
                f"a representative sample has {len(item)} arrays; the model has {len(ranks)} inputs "
                f"({', '.join(graph.inputs)})"
            )
    else:
        item = [item]
    out = []
    for arr, rank, name in zip(item, ranks, graph.inputs, strict=True):
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim == rank - 1:
            arr = arr[None]
        want = tuple(graph.tensor(name).shape[1:])
        if arr.ndim != rank or any(w >= 0 and w != a for w, a in zip(want, arr.shape[1:], strict=True)):
            raise OptionError(
                f"representative sample for input {name!r} has shape {arr.shape}; "
                f"the model takes {(-1, *want)} (a batch) or {want} (one sample)"
            )
        out.append(arr)
    return out
