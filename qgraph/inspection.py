"""`qgraph.inspect(model_or_path, target=None) -> Inspection`: what `qgraph inspect` shows, as data.

A Keras model, a `.keras`/`.h5` path, a `.tflite` path or bytes (qgraph's or another writer's,
e.g. TFLiteConverter's), or a `Graph`. The result holds the summary (ops by type, parameters),
every tensor with its quantization, the sizes (constant bytes per op type and layer, activation
memory and its peak estimate), the op versions with the minimum runtime, what `target` cannot
run, and each weight tensor's sparsity and distinct values. `to_dict()` is JSON-serialisable;
`str()` is the text `qgraph inspect` prints (docs/inspect.md explains each section).

    >>> ins = qgraph.inspect("digits_int8.tflite", target="edgetpu")
    >>> ins.sizes.peak_activation_bytes, ins.versions.file_min_runtime, ins.target.unsupported_ops
    (4096, '1.14.0', 5)
    >>> json.dumps(ins.to_dict())
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from qgraph.compress.stats import WeightStats, weight_stats
from qgraph.inspection_sizes import KERAS, Sizes, naming, sizes
from qgraph.inspection_target import TargetCheck, check_target
from qgraph.inspection_tensors import TensorInfo, quantization_kinds, tensor_infos
from qgraph.inspection_versions import FROM_COMPILE, FROM_GRAPH, Versions, compiled_versions, file_versions
from qgraph.ir import Graph
from qgraph.targets import Target, get_target


@dataclass
class Inspection:
    """Everything `qgraph inspect` reports about one model; `graph` is the IR it was read from
    (after the import and optimize passes with `optimize=True`)."""

    summary: dict[str, Any]
    tensors: list[TensorInfo]
    sizes: Sizes
    versions: Versions
    weights: list[WeightStats]
    target: TargetCheck | None = None
    graph: Graph = field(default_factory=Graph, repr=False, compare=False)

    @property
    def quantization(self) -> dict[str, dict[str, int]]:
        """How many activations and constants have each kind of quantization."""
        return quantization_kinds(self.tensors)

    def to_dict(self) -> dict[str, Any]:
        """Every section as plain JSON types (tuples become lists); the graph is left out."""
        return {
            "summary": self.summary,
            "quantization": self.quantization,
            "tensors": [asdict(t) for t in self.tensors],
            "sizes": asdict(self.sizes),
            "versions": asdict(self.versions),
            "target": None if self.target is None else asdict(self.target),
            "weights": [asdict(w) for w in self.weights],
        }

    def __str__(self) -> str:
        from qgraph.inspection_text import render

        return render(self)


def inspect(
    model_or_path: Any,
    target: str | Target | None = None,
    *,
    optimize: bool = False,
    safe_mode: bool = True,
    custom_objects: dict | None = None,
) -> Inspection:
    """Inspect a model (see the module docstring). `target` names a target to check the model
    against (an unknown name is a `TargetError` with the known ones); `optimize` runs the
    import and optimize passes first (the graph the serializer sees); `safe_mode` and
    `custom_objects` are for loading a `.keras`/`.h5` file, as in `qgraph.load`."""
    tgt = get_target(target).configured({}) if target is not None else None
    graph, data = _load(model_or_path, safe_mode, custom_objects)
    if optimize:
        from qgraph.pipeline import PassContext, PassManager

        PassManager.from_plugins().run(graph, PassContext(get_target("cpu")), phases=("import", "optimize"))
    # A file's graph has its tensor types; a Keras model gets them when compiled for the target.
    from_file = naming(graph) != KERAS
    if data is not None:
        versions, checked, what = file_versions(data), graph, "the file"
    else:  # no file (yet): what qgraph's float compile writes (a file's graph keeps its types)
        versions, compiled = compiled_versions(graph, FROM_GRAPH if from_file else FROM_COMPILE)
        checked, what = (compiled, "qgraph's float compile") if compiled else (graph, "the model as loaded")
    check = None
    if tgt is not None:
        written = {o.op: o.version for o in versions.ops}
        check = check_target(tgt, checked, written, what, types=from_file)
    return Inspection(
        graph.summary(),
        tensor_infos(graph),
        sizes(graph),
        versions,
        weight_stats(graph),
        check,
        graph,
    )


def _load(model_or_path: Any, safe_mode: bool, custom_objects: dict | None) -> tuple[Graph, bytes | None]:
    """The model's Graph, and the bytes of the `.tflite` it was read from (None: not a file)."""
    from qgraph.api import load

    if isinstance(model_or_path, bytes | bytearray | memoryview):
        from qgraph.frontend.tflite import from_tflite  # not `load`: it would import Keras

        data = bytes(model_or_path)
        return from_tflite(data), data
    graph = load(model_or_path, safe_mode=safe_mode, custom_objects=custom_objects)
    if isinstance(model_or_path, str | os.PathLike) and os.fspath(model_or_path).endswith(".tflite"):
        with open(model_or_path, "rb") as f:
            return graph, f.read()
    return graph, None
