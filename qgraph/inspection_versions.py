"""Op versions and the minimum TFLite runtime (`qgraph inspect`'s version section).

For a `.tflite` file: the versions its operator codes carry and its `min_runtime_version`
metadata, beside the minimum runtime qgraph's op registry gives for those versions
(`OpDef.runtime_for`). For a Keras model: the versions qgraph writes when it compiles the
model to float (in memory; nothing is written to disk).

    >>> v = file_versions(open("digits_int8.tflite", "rb").read())
    >>> [(o.op, o.version, o.min_runtime) for o in v.ops][:2], v.file_min_runtime, v.min_runtime
    ([('QUANTIZE', 1, '1.14.0'), ('CONV_2D', 3, '1.14.0')], '1.14.0', '1.14.0')
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import min_runtime, opdefs_for_builtin
from qgraph.errors import QGraphError
from qgraph.frontend.tflite_check import BUILTIN_NAMES
from qgraph.ir import Graph

#: `Versions.source`: a file's own versions; those qgraph's float compile writes for a Keras
#: model, and for a graph read from a file (given as a Graph: quantized tensors stay quantized).
FROM_FILE = "read from the file"
FROM_COMPILE = "as qgraph would write it, float"
FROM_GRAPH = "as qgraph would write this graph"


@dataclass(frozen=True)
class OpVersion:
    """One operator code: the builtin's name (`CUSTOM:<code>` for a custom op), its version,
    and the first TFLite runtime with it by qgraph's op registry (None: qgraph has no OpDef
    that writes this builtin, or it is a custom op)."""

    op: str
    version: int
    min_runtime: str | None


@dataclass(frozen=True)
class Versions:
    """The op versions, where they come from (`FROM_FILE` or `FROM_COMPILE`), the minimum
    runtime qgraph's registry gives for them, and the file's `min_runtime_version` metadata
    (None when absent). `note` says why `ops` is empty when qgraph could not compile the model."""

    source: str
    ops: tuple[OpVersion, ...]
    min_runtime: str | None
    file_min_runtime: str | None
    note: str = ""


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


def _registry_runtime(builtin: str, version: int) -> str | None:
    return min_runtime(builtin, version) if opdefs_for_builtin(builtin) else None


def file_versions(data: bytes, source: str = FROM_FILE) -> Versions:
    """The operator codes and `min_runtime_version` of `data`, a `.tflite` the frontend has
    read (so checked: its tables lie inside the file)."""
    model = S.Model.GetRootAs(data, 0)
    ops = []
    for k in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(k)
        builtin = BUILTIN_NAMES.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "UNKNOWN")
        if builtin == "CUSTOM":
            custom = (code.CustomCode() or b"").decode(errors="replace")
            ops.append(OpVersion(f"CUSTOM:{custom}", code.Version(), None))
        else:
            ops.append(OpVersion(builtin, code.Version(), _registry_runtime(builtin, code.Version())))
    known = [o.min_runtime for o in ops if o.min_runtime is not None]
    computed = max(known, key=_version_key) if known else None
    return Versions(source, tuple(ops), computed, _metadata(model, data, b"min_runtime_version"))


def _metadata(model: Any, data: bytes, name: bytes) -> str | None:
    """The text of metadata entry `name`, None when the file has none."""
    for k in range(model.MetadataLength()):
        entry = model.Metadata(k)
        if entry.Name() != name:
            continue
        buf = model.Buffers(entry.Buffer())
        if buf.Offset() > 1:  # data after the flatbuffer (files over 2 GB)
            raw = data[buf.Offset() : buf.Offset() + buf.Size()]
        else:
            raw = buf.DataAsNumpy().tobytes() if buf.DataLength() else b""
        return raw.rstrip(b"\0").decode(errors="replace")
    return None


def compiled_versions(graph: Graph, source: str = FROM_COMPILE) -> tuple[Versions, Graph | None]:
    """The versions of qgraph's float compile of `graph` for the CPU, with the compiled graph
    (None when qgraph cannot compile the model: `Versions.note` says why)."""
    from qgraph.api import compile

    try:
        with warnings.catch_warnings():  # the compile's notices are for compile, not inspect
            warnings.simplefilter("ignore")
            result = compile(graph, target="cpu", quantize="float")
    except QGraphError as e:
        return Versions(source, (), None, None, note=f"qgraph cannot compile this model: {e}"), None
    return file_versions(result.tflite, source), result.graph
