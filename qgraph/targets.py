"""`Target`: a declarative capability table for one backend (ops, quantize modes, I/O types,
per-axis support, op rules), contributed through the `qgraph_targets` hook.

`target.check(graph)` lists what the target cannot run, in op order, so a report can say
where the first break is and why (the EdgeTPU compiler cuts the graph there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from qgraph.errors import TargetError, did_you_mean
from qgraph.ops import op_defs, op_facts
from qgraph.options import Option
from qgraph.plugin_manager import plugin_manager

if TYPE_CHECKING:
    from qgraph.ir import Graph, Op

#: A rule looks at one op and returns why the target cannot run it, or None.
OpRule = Callable[["Op", "Graph"], "str | None"]


@dataclass(frozen=True)
class Incompatibility:
    op: str
    op_type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op} ({self.op_type}): {self.reason}"


@dataclass
class Target:
    name: str
    description: str
    quantize_modes: tuple[str, ...]
    default_quantize: str
    ops: frozenset[str]
    io_dtypes: tuple[str, ...] = ("float32",)
    per_axis_weights: bool = True
    #: op types that must not carry a fused activation on this target.
    no_fused_activation: frozenset[str] = frozenset()
    rules: Mapping[str, OpRule] = field(default_factory=dict)
    #: highest op version the target's delegate accepts; above it, the op falls back to the CPU.
    max_op_versions: Mapping[str, int] = field(default_factory=dict)
    #: derives the target for given option values (e.g. NNAPI's capabilities from its API level).
    configure: Callable[[Target, dict[str, Any]], Target] | None = None
    #: the options the target declares (`compile(..., api_level=28)`, `--option api_level=28`).
    options: tuple[Option, ...] = ()
    #: the value of each declared option: the defaults, or what `configured` was given.
    option_values: dict[str, Any] = field(default_factory=dict)
    #: the device runs one sample at a time: a dynamic batch dimension is written as 1.
    static_batch: bool = False
    #: the device compiler takes static shapes only: an input with an unknown dimension other
    #: than the batch, or a batch above 1, is refused (`require_static_shapes`).
    static_shapes: bool = False
    #: runs on the written bytes (e.g. the vendor's compiler); may add to the report and
    #: returns extra files to write next to the output, by suffix (`{"_vela.tflite": data}`).
    finish: Callable[[bytes, Target, Any], dict[str, bytes]] | None = None
    #: True when `finish` gives the verdict on what runs where (the vendor compiler): the
    #: table's findings are then reported, and `finish` refuses what the device cannot run.
    defer_check: Callable[[Target], bool] | None = None

    def __post_init__(self) -> None:
        self.options = tuple(self.options)
        if not all(isinstance(o, Option) for o in self.options):
            raise TargetError(
                f"target {self.name!r}: options must be qgraph.Option declarations "
                f"(name, type, default, help), got {list(self.options)!r}"
            )
        self.option_values = {
            **{o.name: o.default for o in self.options},
            **self.option_values,
        }

    def configured(self, options: Mapping[str, Any]) -> Target:
        """This target with its own options set from `options` (other names are ignored; None
        keeps the default), derived further by `configure` when the target has one."""
        own = {o.name for o in self.options}
        values = {**self.option_values, **{k: v for k, v in options.items() if k in own and v is not None}}
        target = dataclasses.replace(self, option_values=values)
        return self.configure(target, values) if self.configure else target

    def op_types(self) -> frozenset[str]:
        """Every op type the target runs: its table, and the ops whose OpDef names it."""
        return frozenset(self.ops) | {t for t, d in op_defs().items() if self.name in d.targets}

    def runs(self, op_type: str) -> bool:
        """Whether the target's table lists `op_type`, or the op's OpDef names this target."""
        return op_type in self.ops or self.name in op_facts(op_type).targets

    def check(self, graph: Graph) -> list[Incompatibility]:
        problems = []
        for op in graph.ops():
            if not self.runs(op.type):
                why = f"op not supported by target {self.name!r}" + _cast_hint(op, graph)
                problems.append(Incompatibility(op.name, op.type, why))
                continue
            rule = self.rules.get(op.type)
            reason = rule(op, graph) if rule else None
            if reason:
                problems.append(Incompatibility(op.name, op.type, reason))
        return problems

    def version_fallbacks(self, versions: Mapping[str, int]) -> list[str]:
        """Ops whose written version is above what the delegate accepts (they run on the CPU)."""
        return [
            f"{op} v{v} is above the {self.name} delegate's maximum v{self.max_op_versions[op]}: "
            "those ops fall back to the CPU"
            for op, v in sorted(versions.items())
            if op in self.max_op_versions and v > self.max_op_versions[op]
        ]

    def require_static_shapes(self, graph: Graph) -> None:
        """Refuse, naming the input, what a `static_shapes` target cannot compile: an unknown
        dimension other than the batch (`static_batch` writes that one as 1), or a batch above 1."""
        if not self.static_shapes:
            return
        for name in graph.inputs:
            shape = graph.tensor(name).shape
            unknown = [i for i, d in enumerate(shape) if d == -1 and i > 0]
            if unknown:
                raise TargetError(
                    f"input {name!r} has shape {_shape_text(shape)} with unknown dimension"
                    f"{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))}; target {self.name!r} "
                    "needs static shapes: give keras.Input a fixed shape, e.g. keras.Input((224, 224, 3))"
                )
            if shape and shape[0] > 1:
                raise TargetError(
                    f"input {name!r} has batch {shape[0]} (shape {_shape_text(shape)}); target {self.name!r} "
                    "runs one sample at a time: build the model with batch 1 or None (keras.Input(shape) "
                    "without batch_size; qgraph writes it as 1)"
                )

    def require_mode(self, quantize: str) -> None:
        if quantize not in self.quantize_modes:
            raise TargetError(
                f"target {self.name!r} does not run quantize={quantize!r}; "
                f"it supports: {', '.join(self.quantize_modes)}"
            )


def _cast_hint(op: Op, graph: Graph) -> str:
    """Where a CAST comes from: the frontend converts an integer model input for a float layer."""
    if op.type != "CAST":
        return ""
    x = graph.inputs_of(op)[0]
    return (
        f" (it converts the {x.dtype} input {x.name!r} to float for layer {op.meta.get('layer', op.name)!r}; "
        "declare that input float32, or uint8 / int8, which an int8 file takes as they are)"
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join("None" if d == -1 else str(d) for d in shape) + ")"


def allow_cpu_option(device: str) -> Option:
    """The `allow_cpu` option of a target whose runtime runs unsupported ops on the CPU."""
    return Option(
        "allow_cpu",
        bool,
        False,
        f"accept ops the {device} cannot run (they run on the CPU; the report names them); "
        "otherwise the first one is an error naming it",
    )


def all_targets() -> dict[str, Target]:
    targets: dict[str, tuple[Target, str]] = {}
    for impl in plugin_manager().hook.qgraph_targets.get_hookimpls():
        contributed = cast(list[Target], impl.function() or [])
        for t in contributed:
            if t.name in targets:
                raise TargetError(
                    f"target {t.name!r} is given by two plugins: {targets[t.name][1]} and {impl.plugin_name}"
                )
            targets[t.name] = (t, impl.plugin_name)
    return {name: t for name, (t, _) in sorted(targets.items())}


def get_target(target: str | Target) -> Target:
    """The target named `target` (or `target` itself, a `Target`); anything else is a
    `TargetError` that lists the known targets and suggests the closest name."""
    if isinstance(target, Target):
        return target
    targets = all_targets()
    if not isinstance(target, str) or target not in targets:
        what = (
            f"unknown target {target!r}{did_you_mean(target, list(targets), cutoff=0.6)}"
            if isinstance(target, str)
            else f"target={target!r} is not a target"
        )
        raise TargetError(f"{what}; known targets: {', '.join(targets)} (a name, or a qgraph.Target)")
    return targets[target]
