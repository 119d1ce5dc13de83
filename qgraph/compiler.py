"""`compile_graph`: passes for a target, then the TFLite writer, then an atomic file write."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from qgraph.errors import OptionError, TargetError
from qgraph.ir import Graph
from qgraph.pipeline import PassContext, PassManager, PassRecord
from qgraph.targets import Incompatibility, get_target

QUANTIZE_MODES = ("float", "dynamic", "float16", "int8")
#: modes this release writes; the others are declared by targets and arrive with the PTQ work.
IMPLEMENTED_MODES = QUANTIZE_MODES
#: options every target takes (target-specific ones come from `Target.options`).
GENERAL_OPTIONS = (
    "representative_data",
    "io_dtype",
    "calibration_method",
    "percentile",
    "per_channel_dense",
    "max_calibration_samples",
    "progress",
)


@dataclass
class Report:
    target: str
    quantize: str
    passes: list[PassRecord] = field(default_factory=list)
    incompatibilities: list[Incompatibility] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    ops_by_type: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"target {self.target}, quantize {self.quantize}"]
        for r in self.passes:
            lines.append(
                f"  {r.phase:9s} {r.name:20s} {'changed' if r.changed else 'no change':9s} "
                f"{r.seconds * 1000:7.1f} ms  ({r.source})"
            )
            lines += [f"      {m}" for m in r.messages]
        lines.append("  ops: " + ", ".join(f"{k} {v}" for k, v in self.ops_by_type.items()))
        if self.incompatibilities:
            lines.append(f"  first op the target cannot run: {self.incompatibilities[0]}")
            lines += [f"    {p}" for p in self.incompatibilities[1:]]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines.append("  time: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in self.seconds.items()))
        return "\n".join(lines)


@dataclass
class CompileResult:
    tflite: bytes
    graph: Graph
    report: Report
    output: str | None = None


def compile_graph(
    graph: Graph,
    target: Any = "cpu",
    quantize: str | None = None,
    *,
    output: str | os.PathLike | None = None,
    lint: bool | None = None,
    **options: Any,
) -> CompileResult:
    tgt = get_target(target)
    # A QAT model carries its learned ranges: int8 by default, no calibration data needed.
    mode = quantize or ("int8" if graph.meta.get("qat") else tgt.default_quantize)
    if mode not in QUANTIZE_MODES:
        raise OptionError(
            f"quantize={mode!r} is not a quantization mode; choose one of {', '.join(QUANTIZE_MODES)}"
        )
    tgt.require_mode(mode)
    if options.get("representative_data") is not None and mode != "int8":
        raise OptionError(f"representative_data is only used with quantize='int8' (got quantize={mode!r})")
    if mode not in IMPLEMENTED_MODES:
        raise OptionError(
            f"quantize={mode!r} is not implemented in qgraph {_version()} yet; "
            f"available now: {', '.join(IMPLEMENTED_MODES)}"
        )
    unknown = set(options) - set(tgt.options) - set(GENERAL_OPTIONS)
    if unknown:
        raise OptionError(
            f"unknown option(s) {sorted(unknown)} for target {tgt.name!r}; "
            f"it takes: {sorted(tgt.options) or 'none'}"
        )
    tgt = tgt.configured(options)
    ctx = PassContext(tgt, mode, {**tgt.options, **options})
    t0 = time.perf_counter()
    PassManager.from_plugins(lint=lint).run(graph, ctx)
    t1 = time.perf_counter()
    graph.lint()
    report = Report(tgt.name, mode, ctx.records, tgt.check(graph))
    report.ops_by_type = graph.summary()["ops_by_type"]
    if report.incompatibilities:
        raise TargetError(
            f"target {tgt.name!r} cannot run this model; first op it cannot run: "
            f"{report.incompatibilities[0]}" + "".join(f"\n  {p}" for p in report.incompatibilities[1:])
        )
    from qgraph.emit.tflite import serialize

    data = serialize(graph, description=f"qgraph {_version()} (target {tgt.name}, {mode})")
    t2 = time.perf_counter()
    report.seconds = {"passes": t1 - t0, "serialize": t2 - t1}
    report.warnings = tgt.version_fallbacks(graph.meta.get("op_versions", {}))
    path = write_atomic(output, data) if output is not None else None
    return CompileResult(data, graph, report, path)


def write_atomic(path: str | os.PathLike, data: bytes) -> str:
    """Write `data` to `path` via a temporary file in the same folder and a rename, so a
    failure never leaves a partial file behind."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OptionError(f"output folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".qgraph-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _version() -> str:
    from qgraph import __version__

    return __version__
