"""`compile_graph`: passes for a target, then the TFLite writer, then an atomic file write.

Options: `compile` accepts the options declared (`qgraph.Option`) by the passes that run for
the target and quantize mode, and the target's own; `check_options` says what is wrong.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qgraph.errors import OptionError, TargetError, did_you_mean  # noqa: F401 (re-exported)
from qgraph.ir import Graph
from qgraph.notices import compile_warnings, raise_warnings
from qgraph.options import Option
from qgraph.output_files import write_atomic, write_outputs  # noqa: F401 (write_atomic: re-exported)
from qgraph.pipeline import Pass, PassContext, PassManager, PassRecord
from qgraph.quant.annotations import has_learned_ranges
from qgraph.targets import Incompatibility, Target, all_targets, get_target

QUANTIZE_MODES = ("float", "dynamic", "float16", "int8")
#: what `qgraph.compile` takes for every target and mode, beside the declared options.
GENERAL_OPTIONS = ("target", "quantize", "output")
#: the pass modes that are not `compile` quantize modes: the verbs that run those passes.
MODE_NAMES = {"qat": "qgraph.quantize_model (QAT)", "prune": "qgraph.prune", "cluster": "qgraph.cluster"}


@dataclass
class Report:
    target: str
    quantize: str
    passes: list[PassRecord] = field(default_factory=list)
    incompatibilities: list[Incompatibility] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    ops_by_type: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: where the ops run: the target's table, or the vendor compiler's own verdict (Vela).
    placement: list[str] = field(default_factory=list)
    #: figures from the vendor compiler, by tool: {"vela": {"flash_kib": ..., "inference_ms": ...}}.
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"target {self.target}, quantize {self.quantize}"]
        for r in self.passes:
            lines.append(
                f"  {r.phase:9s} {r.name:20s} {'changed' if r.changed else 'no change':9s} "
                f"{r.seconds * 1000:7.1f} ms  ({r.source})"
            )
            lines += [f"      {m}" for m in r.messages]
        lines.append("  ops: " + ", ".join(f"{k} {v}" for k, v in self.ops_by_type.items()))
        lines += [f"  placement: {p}" for p in self.placement]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines.append("  time: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in self.seconds.items()))
        return "\n".join(lines)


@dataclass
class CompileResult:
    tflite: bytes
    graph: Graph
    report: Report
    output: str | None = None
    #: files the target's vendor compiler produced, by suffix (`"_vela.tflite"`), and where
    #: they were written next to `output`.
    extras: dict[str, bytes] = field(default_factory=dict)
    extra_paths: dict[str, str] = field(default_factory=dict)


def plan_compile(
    graph: Graph, target: Any, quantize: str | None, options: dict[str, Any], lint: bool | None = None
) -> tuple[PassManager, PassContext]:
    """The pass manager and context a compile of `graph` runs with: the quantize mode (the
    target's default; int8 for a QAT model), checked against the target and the graph's
    shapes, and every option checked (`check_options`). `qgraph view --after` stops it early."""
    tgt = get_target(target)
    # A QAT model carries its learned ranges: int8 by default, no calibration data needed.
    mode = (
        quantize if quantize is not None else ("int8" if has_learned_ranges(graph) else tgt.default_quantize)
    )
    if mode not in QUANTIZE_MODES:
        raise OptionError(
            f"quantize={mode!r} is not a quantization mode{did_you_mean(mode, QUANTIZE_MODES)}; "
            f"choose one of {', '.join(QUANTIZE_MODES)} (or None: the target's default, int8 for a QAT model)"
        )
    tgt.require_mode(mode)
    tgt.require_static_shapes(graph)
    manager = PassManager.from_plugins(lint=lint)
    return manager, check_options(manager, tgt, mode, options)


def compile_graph(
    graph: Graph,
    target: Any = "cpu",
    quantize: str | None = None,
    *,
    output: str | os.PathLike | None = None,
    lint: bool | None = None,
    **options: Any,
) -> CompileResult:
    manager, ctx = plan_compile(graph, target, quantize, options, lint)
    assert ctx.target is not None
    mode = ctx.quantize
    tgt = ctx.target  # configured: e.g. NNAPI's per-axis support from its api_level
    t0 = time.perf_counter()
    manager.run(graph, ctx)
    t1 = time.perf_counter()
    graph.lint()
    report = Report(tgt.name, mode, ctx.records, tgt.check(graph))
    report.ops_by_type = graph.summary()["ops_by_type"]
    report.placement = placement(tgt, len(graph.ops()), report.incompatibilities)
    deferred = tgt.defer_check is not None and tgt.defer_check(tgt)
    if report.incompatibilities and not tgt.option_values.get("allow_cpu") and not deferred:
        allow = (
            "; pass allow_cpu=True (--option allow_cpu=true) to run those ops on the CPU"
            if any(o.name == "allow_cpu" for o in tgt.options)
            else ""
        )
        raise TargetError(
            f"target {tgt.name!r} cannot run this model; first op it cannot run: "
            f"{report.incompatibilities[0]}"
            + "".join(f"\n  {p}" for p in report.incompatibilities[1:])
            + allow
        )
    from qgraph.emit.tflite import serialize

    data = serialize(graph, description=f"qgraph {_version()} (target {tgt.name}, {mode})")
    t2 = time.perf_counter()
    report.warnings = compile_warnings(graph) + tgt.version_fallbacks(graph.meta.get("op_versions", {}))
    raise_warnings(compile_warnings(graph), stacklevel=3)  # at the line that called qgraph.compile
    extras = tgt.finish(data, tgt, report) if tgt.finish else {}
    report.seconds = {"passes": t1 - t0, "serialize": t2 - t1}
    if tgt.finish:  # e.g. Vela, which runs for its verdict even when it writes no extra file
        report.seconds[f"{tgt.name} compiler"] = time.perf_counter() - t2
    result = CompileResult(data, graph, report, extras=extras)
    if output is not None:  # every path is checked before any file is written (output_files.py)
        result.output, result.extra_paths = write_outputs(output, data, extras, source=graph)
    return result


def placement(target: Target, n_ops: int, problems: list[Incompatibility]) -> list[str]:
    """Where the ops run, by the target's table: all on the accelerator, or which go to the
    CPU (with `allow_cpu`) starting with the first and why."""
    if target.name == "cpu":
        return []
    if not problems:
        return [f"all {n_ops} ops on {target.name} (qgraph's {target.name} table)"]
    on_cpu = len({p.op for p in problems})
    return [
        f"{n_ops - on_cpu} of {n_ops} ops on {target.name}, {on_cpu} on the CPU; first: {problems[0]}"
    ] + [f"also on the CPU: {p}" for p in problems[1:]]


def check_options(manager: PassManager, target: Target, mode: str, options: dict[str, Any]) -> PassContext:
    """The PassContext for a compile (target configured), after checking every option in
    `options` against the declarations: a name no pass or target declares, a name whose pass
    does not run for this target and mode, or a value of the wrong type or out of its choices
    is an `OptionError` that names it. A value of None stands for the declared default."""
    by_passes = manager.declared_options()
    own = {o.name: o for o in target.options}
    here = f"target {target.name!r}, quantize={mode!r}"

    def accepted(ctx: PassContext) -> str:
        names = set(own) | {o.name for p in manager.enabled(ctx) for o in p.options}
        general = f"compile's own: {', '.join(GENERAL_OPTIONS)}"
        return f"{', '.join(sorted(names))}; and {general}" if names else f"none beyond {general}"

    unknown = [name for name in options if name not in own and name not in by_passes]
    if unknown:
        target_options = {o.name: t.name for t in all_targets().values() for o in t.options}
        known = [*GENERAL_OPTIONS, *by_passes, *target_options]
        hints = [
            f" ({n} is an option of target {target_options[n]!r})"
            if n in target_options
            else did_you_mean(n, known, " for {0!r}" if len(unknown) > 1 else "")
            for n in unknown
        ]
        raise OptionError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for {here}"
            + "".join(hints)
            + f"; options accepted here: {accepted(PassContext(target, mode, dict(options)))} "
            "(`qgraph passes` and `qgraph targets` list every option)"
        )
    given = {name: value for name, value in options.items() if value is not None}
    for name, value in given.items():
        if name in own:
            own[name].check(value, f"target {target.name!r}")
        for option, p in by_passes.get(name, []):
            option.check(value, f"pass {p.name!r}")
    configured = target.configured(given)
    ctx = PassContext(configured, mode, {**configured.option_values, **given})
    running = {p.name for p in manager.enabled(ctx)}
    for name in given:
        declaring = [p for _, p in by_passes.get(name, [])]
        if name in own or any(p.name in running for p in declaring):
            continue
        p = declaring[0]
        when = _when(p)
        if (p.modes is None or mode in p.modes) and (p.targets is None or target.name in p.targets):
            when = None  # its `enabled` refuses for another reason
        if when is None:
            raise OptionError(
                f"{name} is an option of pass {p.name!r}, which does not run for {here}; "
                f"options accepted here: {accepted(ctx)}"
            )
        raise OptionError(
            f"{name} is only used with {when} (got {here}): it is an option of pass {p.name!r}, "
            f"which runs only for {when}; options accepted here: {accepted(ctx)}"
        )
    return ctx


def _when(p: Pass) -> str | None:
    """When pass `p` runs, from its `modes` and `targets` (None: not restricted by them)."""
    parts = []
    if p.modes is not None:
        parts.append(" or ".join(MODE_NAMES.get(m, f"quantize={m!r}") for m in p.modes))
    if p.targets is not None:
        parts.append("target " + " or ".join(repr(t) for t in p.targets))
    return " on ".join(parts) or None


def describe_options(options: Sequence[Option]) -> list[str]:
    """One line per option, `name: type = default  help`, for listings."""
    return [f"{o.signature()}  {o.help}".rstrip() for o in options]


def _version() -> str:
    from qgraph import __version__

    return __version__
