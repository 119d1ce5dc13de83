"""Representative data in every form a user has it -> batches the calibrator can run.

Accepted (for a model with K inputs of ranks r_1..r_K, batch dimension included):
- an array: of rank r_1 (a batch of samples) or r_1 - 1 (one sample); K must be 1;
- a list/tuple of K arrays (one per input, each a batch or one sample) when K > 1;
  for K == 1 a list/tuple of arrays is a list of samples (or batches);
- nested lists of numbers (`x.tolist()`) wherever an array goes;
- a dict {input name: array} (as Keras takes multi-input data);
- an iterable or generator of any of the above (streamed; held in memory only for a second
  pass, up to a cap: `qgraph.quant.samples`);
- a `tf.data.Dataset` of any of the above (batched or not).
`.npy` / `.npz` files (CLI `--calibration`) are loaded into the first or the dict form.

Refused, with an `OptionError` naming the item or sample and the input: (inputs, labels)
pairs ("drop the labels"), one array for a multi-input model, unequal sample counts across
inputs, ragged nested lists, object, complex or text arrays, NaN or infinite values.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.quant.labels import has_shape, labels_error, looks_labelled


def load_calibration_file(path: str | os.PathLike, what: str = "calibration file") -> Any:
    """`.npy`: one array (batch of samples) for a 1-input model. `.npz`: one array per
    input, keyed by input name (or `arr_0`, `arr_1`, ... in input order). A file that is
    not what its name says, damaged, or pickled (never unpickled: that runs code) is an
    `OptionError` naming it (as `what`: "calibration file", "--data file")."""
    from qgraph.input_files import check_input_file

    path = os.fspath(path)
    if not os.path.exists(path):
        raise OptionError(f"{what} {path!r} does not exist")
    check_input_file(path, what)
    kind = ".npy" if path.endswith(".npy") else ".npz" if path.endswith(".npz") else None
    if kind is None:
        raise OptionError(f"{what} {path!r}: use a .npy (one input) or .npz (one array per input)")
    with open(path, "rb") as f:
        head = f.read(6)
    valid = head == b"\x93NUMPY" if kind == ".npy" else head.startswith(b"PK")  # np.savez writes a zip
    if not valid:
        saver = "np.save" if kind == ".npy" else "np.savez"
        raise OptionError(
            f"{what} {path!r} is not a NumPy {kind} file (no {kind} header); write it with {saver}"
        )
    try:
        if kind == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" not in str(e):
            raise OptionError(f"{what} {path!r} is damaged: {e}") from e
        raise OptionError(
            f"{what} {path!r} holds pickled Python objects (an object array), which qgraph "
            "does not load; save the samples as numbers: np.save(path, np.asarray(x, np.float32))"
        ) from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise OptionError(f"{what} {path!r} is damaged: {e}") from e
    if not arrays:
        raise OptionError(f"{what} {path!r} holds no arrays")
    return arrays


def items(data: Any, graph: Graph) -> Iterator[tuple[str, Any]]:
    """(where, item) for each item of `data`: `where` names it in messages ("representative_data"
    for a single array or dict, "representative_data item 3" for the items of an iterable)."""
    count = len(graph.inputs)
    if isinstance(data, np.ndarray | dict) or (
        isinstance(data, list | tuple) and count > 1 and len(data) == count and all(map(has_shape, data))
    ):
        yield "representative_data", data if isinstance(data, np.ndarray | dict) else list(data)
        return
    if isinstance(data, str | bytes):
        raise OptionError(
            "representative_data is a string; pass arrays, or load a file with load_calibration_file"
        )
    if looks_labelled(data, graph):
        raise labels_error("representative_data", data, graph)
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        data = data.as_numpy_iterator()
    elif not hasattr(data, "__iter__"):
        raise OptionError(
            f"representative_data of type {type(data).__name__} is not supported: pass an array, "
            "a list of arrays, a dict, an iterable/generator of samples, or a tf.data.Dataset"
        )
    for index, item in enumerate(data):
        yield f"representative_data item {index}", item


def as_batch(item: Any, graph: Graph, where: str, first: int) -> list[np.ndarray]:
    """One item as K float32 arrays with a batch dimension, all of one length and finite.
    `first`: the number of samples before this item (to name a bad sample)."""
    arrays = [
        _as_input(v, graph, name, where)
        for v, name in zip(_per_input(item, graph, where), graph.inputs, strict=True)
    ]
    if len({len(a) for a in arrays}) > 1:
        counts = " and ".join(
            f"{len(a)} samples for input {name!r}" for a, name in zip(arrays, graph.inputs, strict=True)
        )
        raise OptionError(
            f"{where} has {counts}; every input needs the same number of samples (the i-th of each "
            "input make one model call)"
        )
    for arr, name in zip(arrays, graph.inputs, strict=True):
        _check_finite(arr, name, first, where)
    return arrays


def _per_input(item: Any, graph: Graph, where: str) -> list[Any]:
    """`item` split into one value per input."""
    names = graph.inputs
    if isinstance(item, dict):
        missing = [n for n in names if n not in item]
        if missing and all(f"arr_{i}" in item for i in range(len(names))):
            return [item[f"arr_{i}"] for i in range(len(names))]
        if missing:
            raise OptionError(f"{where} is a dict that lacks inputs {missing}; it has {sorted(item)}")
        return [item[n] for n in names]
    if looks_labelled(item, graph):
        raise labels_error(where, item, graph)
    is_sequence = isinstance(item, list | tuple)
    if len(names) == 1:
        # Several arrays: samples or batches of the one input, joined. Plain (nested) lists of
        # numbers: one array.
        if is_sequence and any(map(has_shape, item)):
            return [np.concatenate([_as_input(v, graph, names[0], where) for v in item])]
        return [item]
    if not is_sequence:
        shape = f" of shape {np.shape(item)}" if has_shape(item) else ""
        raise OptionError(
            f"{where} is one array{shape}; the model has {len(names)} inputs ({', '.join(names)}): "
            "pass one array per input, as a list in model.inputs order or a dict {input name: array}"
        )
    if len(item) != len(names):
        raise OptionError(
            f"{where} has {len(item)} arrays; the model has {len(names)} inputs ({', '.join(names)})"
        )
    return list(item)


def _as_input(value: Any, graph: Graph, name: str, where: str) -> np.ndarray:
    want = tuple(graph.tensor(name).shape[1:])
    rank = len(want) + 1
    try:
        arr = np.asarray(value)
    except ValueError:  # numpy refuses nested lists of unequal lengths
        raise OptionError(
            f"{where}, input {name!r}: nested lists of unequal lengths (ragged); every sample must "
            f"have the shape {want}"
        ) from None
    numbers = f"real numbers, e.g. a float32 array of shape {(-1, *want)}"
    refused = {
        "O": f"is an array of Python objects (dtype object: ragged rows or mixed types); pass {numbers}",
        "c": f"is complex ({arr.dtype}); the model takes real numbers: pass x.real or abs(x)",
    }.get(arr.dtype.kind)
    if refused is None and arr.dtype.kind not in "biuf":
        refused = f"has dtype {arr.dtype}; pass {numbers}"
    if refused:
        raise OptionError(f"{where}, input {name!r}: {refused}")
    shape = arr.shape
    with np.errstate(over="ignore"):  # beyond float32's range: inf, which _check_finite names
        arr = arr.astype(np.float32, copy=False)
    if arr.ndim == rank - 1:
        arr = arr[None]
    if arr.ndim != rank or any(w >= 0 and w != a for w, a in zip(want, arr.shape[1:], strict=True)):
        raise OptionError(
            f"{where}: representative sample for input {name!r} has shape {shape}; "
            f"the model takes {(-1, *want)} (a batch) or {want} (one sample)"
        )
    return arr


def _check_finite(arr: np.ndarray, name: str, first: int, where: str = "representative_data") -> None:
    finite = np.isfinite(arr)
    if finite.all():
        return
    nan = int(np.isnan(arr).sum())
    inf = arr.size - int(finite.sum()) - nan
    sample = first + int(np.argmin(finite.reshape(len(arr), -1).all(axis=1)))
    what = " and ".join([f"{nan} NaN"] * bool(nan) + [f"{inf} infinite"] * bool(inf))
    beyond = " (or beyond float32's range)" if inf else ""
    source = where.split(" item ")[0]  # "representative_data item 3": its samples are numbered
    purpose = "calibration" if source == "representative_data" else source.split()[0]
    raise OptionError(
        f"{source} sample {sample} (counting from 0) of input {name!r} has {what} "
        f"values{beyond}; {purpose} needs finite numbers: drop or fix those samples"
    )
