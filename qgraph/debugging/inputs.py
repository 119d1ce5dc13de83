"""What `qgraph.verify` is given, checked before any run: the Keras model (or its file), the
.tflite (path or bytes, read by qgraph's verifying reader so that a damaged file is named),
and the samples (an array, or one per input, as for calibration), matched to each other."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from qgraph.errors import ModelFileError, OptionError


def read_inputs(
    model: Any, tflite: Any, data: Any, *, safe_mode: bool, custom_objects: dict | None
) -> tuple[Any, Any, bytes, str, list[np.ndarray]]:
    """(Keras model, its qgraph Graph, the file's bytes, a label for it, samples per input)."""
    from qgraph.frontend.keras import from_keras
    from qgraph.frontend.tflite import from_tflite
    from qgraph.quant.data import as_batch

    keras_model = _keras_model(model, safe_mode, custom_objects)
    if isinstance(tflite, bytes | bytearray):
        file_bytes, label = bytes(tflite), "the .tflite (bytes)"
    elif isinstance(tflite, str | os.PathLike):
        from qgraph.input_files import check_input_file

        label = os.fspath(tflite)
        if not label.endswith(".tflite"):
            raise OptionError(f"verify compares a .tflite file with its Keras model; got {label!r}")
        check_input_file(label, "TFLite file")
        with open(label, "rb") as f:
            file_bytes = f.read()
    else:
        raise OptionError(f"verify takes the .tflite as a path or bytes, not {type(tflite).__name__}")
    # a damaged or foreign file: a ModelFileError naming it (by its path when it has one)
    file_graph = from_tflite(file_bytes if label.startswith("the .tflite") else label)
    graph = from_keras(keras_model)
    samples = as_batch(data, graph, "verify data", 0)
    if not len(samples[0]):
        raise OptionError("verify data has no samples")
    _check_same_model(graph, file_graph, label)
    return keras_model, graph, file_bytes, label, samples


def _keras_model(model: Any, safe_mode: bool, custom_objects: dict | None) -> Any:
    if isinstance(model, str | os.PathLike):
        from qgraph.frontend.keras import load_keras_file
        from qgraph.input_files import check_input_file

        path = os.fspath(model)
        if not path.endswith((".keras", ".h5", ".hdf5")):
            raise OptionError(f"verify's reference is a Keras model or a .keras/.h5 file; got {path!r}")
        check_input_file(path)
        return load_keras_file(path, safe_mode=safe_mode, custom_objects=custom_objects)
    if not hasattr(model, "layers"):
        raise OptionError(
            f"verify's reference is a Keras model or a .keras/.h5 path, not {type(model).__name__}"
        )
    return model


def _check_same_model(graph: Any, file_graph: Any, label: str) -> None:
    """The file must take and give what the model does (a file of another model is refused)."""

    def signature(g: Any, names: list[str]) -> list[tuple[int, ...]]:
        return [tuple(g.tensor(n).shape[1:]) for n in names]

    for what in ("inputs", "outputs"):
        ours, theirs = (
            signature(graph, getattr(graph, what)),
            signature(file_graph, getattr(file_graph, what)),
        )
        if sorted(ours) != sorted(theirs):
            raise ModelFileError(
                f"{label} is not a file of this model: its {what} have shapes {theirs}, the model's {ours}"
            )
