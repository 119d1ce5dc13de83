"""Telling `fit`-style (inputs, labels) pairs from calibration data, to say "drop the labels".

A tuple `(x, y)` is a pair when `x` holds the model's inputs and `y` does not: for a 1-input
model, `x` fits the input (a batch or one sample) and `y` does not fit it the same way; for
a K-input model, `x` is a dict or a tuple/list of K arrays. Two samples or two batches of the
input are data, and so is a list: Keras, too, unpacks only tuples into x and y.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgraph.errors import OptionError
from qgraph.ir import Graph


def has_shape(value: Any) -> bool:
    """An array or tensor (not a nested list or a number)."""
    return hasattr(value, "shape") and hasattr(value, "dtype")


def looks_labelled(item: Any, graph: Graph) -> bool:
    if not isinstance(item, tuple) or len(item) != 2 or isinstance(item[0], str):
        return False
    x, y = item
    if isinstance(x, dict):
        return True
    if len(graph.inputs) > 1:
        return (
            isinstance(x, list | tuple)
            and len(x) == len(graph.inputs)
            and all(isinstance(v, list | tuple) or np.ndim(v) > 0 for v in x)
        )
    want = tuple(graph.tensor(graph.inputs[0]).shape[1:])
    for batched in (True, False):
        if _fits(x, want, batched):
            return not _fits(y, want, batched)
    return False


def labels_error(where: str, pair: Any, graph: Graph) -> OptionError:
    shape = _shape(pair[1])
    second = f" (shape {shape})" if shape is not None else ""
    return OptionError(
        f"{where} looks like an (inputs, labels) pair: its second element{second} is not an input of "
        f"the model ({', '.join(graph.inputs)}). Calibration takes inputs only: drop the labels, e.g. "
        "(x for x, _ in data) or dataset.map(lambda x, y: x)"
    )


def _shape(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, dict):
        return None
    try:
        return tuple(np.shape(value))
    except ValueError:  # a ragged nested list
        return None


def _fits(value: Any, want: tuple[int, ...], batched: bool) -> bool:
    shape = _shape(value)
    if shape is None or len(shape) != len(want) + batched:
        return False
    return all(w < 0 or w == s for w, s in zip(want, shape[batched:], strict=True))
