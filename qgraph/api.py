"""The public verbs: `load`, `compile`, `to_keras`. The CLI is a thin shell over these."""

from __future__ import annotations

import os
from typing import Any

from qgraph.errors import OptionError, QGraphError
from qgraph.ir import Graph


def load(model_or_path: Any, *, safe_mode: bool = True, custom_objects: dict | None = None) -> Graph:
    """A Keras 3 / tf-keras model, a `.keras` / `.h5` path, or a `.tflite` path or bytes -> a new `Graph`.

    For a `.keras` / `.h5` path, `safe_mode=False` (for a file you trust: Keras may then run
    the Python code of its Lambda layers) and `custom_objects` ({name: class or function},
    for custom layers) go to Keras' loader."""
    if isinstance(model_or_path, str | os.PathLike):
        return _load_file(os.fspath(model_or_path), safe_mode, custom_objects)
    if not safe_mode or custom_objects is not None:
        raise OptionError(
            "safe_mode and custom_objects are for loading a .keras or .h5 file; "
            f"got a {type(model_or_path).__name__}"
        )
    if isinstance(model_or_path, Graph):
        return model_or_path.copy()
    from qgraph.frontend.keras import from_keras

    if isinstance(model_or_path, bytes):
        from qgraph.frontend.tflite import from_tflite

        return from_tflite(model_or_path)
    if hasattr(model_or_path, "layers"):
        return from_keras(model_or_path)
    raise OptionError(
        f"qgraph.load takes a Keras model, a .keras/.h5/.tflite path, .tflite bytes or a Graph, not {type(model_or_path).__name__}"
    )


def _load_file(path: str, safe_mode: bool, custom_objects: dict | None) -> Graph:
    """The Graph of the model file `path`; its absolute path is kept in `graph.meta["source_file"]`
    so that `compile` refuses to write its output over it."""
    from qgraph.input_files import check_input_file

    check_input_file(path)
    if path.endswith(".tflite"):
        if not safe_mode or custom_objects is not None:
            raise OptionError(
                f"safe_mode and custom_objects are for loading a .keras or .h5 file; {path!r} is a .tflite"
            )
        from qgraph.frontend.tflite import from_tflite

        graph = from_tflite(path)
    elif path.endswith((".keras", ".h5", ".hdf5")):
        from qgraph.frontend.keras import from_keras, load_keras_file

        graph = from_keras(load_keras_file(path, safe_mode=safe_mode, custom_objects=custom_objects))
    else:
        raise OptionError(
            f"cannot load {path!r}: qgraph reads .keras, .h5 and .tflite files (got {os.path.splitext(path)[1]!r})"
        )
    graph.meta["source_file"] = os.path.abspath(path)
    return graph


def to_keras(graph: Graph, outputs: list[str] | None = None) -> Any:
    """The Keras model that computes `graph` (see `qgraph.emit.keras`)."""
    from qgraph.emit.keras import to_keras as emit

    return emit(graph, outputs)


def compile(
    model_or_graph: Any,
    target: str = "cpu",
    quantize: str | None = None,
    *,
    representative_data: Any = None,
    output: str | os.PathLike | None = None,
    **options: Any,
):
    """Compile a Keras model (or Graph) for `target`; see `qgraph.compiler.compile_graph`.

    `**options` are the options declared (`qgraph.Option`) by the passes that run for this
    target and quantize mode and by the target (`qgraph passes`, `qgraph targets` list them),
    e.g. `io_dtype="int8"`, `min_elements=256`, `api_level=28`; an option nothing running
    declares, or a value of the wrong type, is an `OptionError` naming it."""
    import time

    from qgraph.compiler import compile_graph

    if representative_data is not None:
        options["representative_data"] = representative_data
    if output is not None:  # refuse a bad output (the input itself, a device) before any work
        from qgraph.output_files import check_output

        check_output(output, source=model_or_graph)
    start = time.perf_counter()
    graph = load(model_or_graph)
    loaded = time.perf_counter() - start
    result = compile_graph(graph, target, quantize, output=output, **options)
    result.report.seconds = {"load": loaded, **result.report.seconds}
    return result


__all__ = ["QGraphError", "compile", "load", "to_keras"]
