"""Per-op encoding for the TFLite writer: `encode(op, ctx)` asks the `qgraph_serialize_op`
hook first, then the op's `OpDef` (builtin code, base version, options object), and raises the
version to what the tensors' types require (op_version.cc rules for what qgraph writes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qgraph.errors import UnsupportedOpError
from qgraph.ops import op_defs
from qgraph.plugin_manager import plugin_manager

if TYPE_CHECKING:
    from qgraph.emit.tflite import SerializeCtx
    from qgraph.ir import Op
    from qgraph.ops import OpDef


@dataclass(frozen=True)
class OpEncoding:
    """How one op is written. `builtin` is a `BuiltinOperator` name; `custom_code` is set
    for custom ops instead. `options_type` names a `BuiltinOptions` member."""

    builtin: str | None
    version: int = 1
    options_type: str | None = None
    options: Any = None
    custom_code: str | None = None


def dtype_version(op: Op, ctx: SerializeCtx, d: OpDef, version: int) -> int:
    """The op version the tensor types require (int8 kernels, hybrid weights, the op's own rule)."""
    ins = ctx.graph.inputs_of(op)
    x = ins[0].dtype if ins else "float32"
    weights = ins[d.weight_port] if d.weight_port is not None and len(ins) > d.weight_port else None
    if x in ("int8", "uint8"):
        version = max(version, d.int8_version)
    elif x == "float32" and weights is not None and weights.dtype == "int8" and d.hybrid_versions:
        per_axis = weights.quant is not None and weights.quant.axis is not None
        version = max(version, d.hybrid_versions[per_axis])
    return d.version_rule(op, ctx, version) if d.version_rule else version


def encode(op: Op, ctx: SerializeCtx) -> OpEncoding:
    custom = plugin_manager().hook.qgraph_serialize_op(op=op, ctx=ctx)
    if custom is not None:
        return custom
    defs = op_defs()
    d = defs.get(op.type)
    if d is None or d.encode is None:
        hint = (
            " (a pre-legalization op: a pass should have rewritten it)"
            if d is not None and d.tflite_builtin is None
            else ""
        )
        raise UnsupportedOpError(
            f"op {op.name!r} has type {op.type!r}, which the TFLite writer cannot encode{hint}; "
            f"supported: {', '.join(sorted(t for t, o in defs.items() if o.encode))}. Plugins add ops "
            "with an OpDef that has an encoder (the qgraph_ops hook, docs/hooks.md)."
        )
    enc = d.encode(op, ctx)
    version = dtype_version(op, ctx, d, enc.version)
    return enc if version == enc.version else replace(enc, version=version)


def opdefs_for_builtin(builtin: str) -> list[OpDef]:
    """The OpDefs written as TFLite `builtin`: the one whose type is the builtin's own name
    alone when there is one (a plugin op that writes the same builtin does not change how a
    file's ops read back), else every op type that names it."""
    defs = op_defs()
    own = defs.get(builtin)
    if own is not None and own.tflite_builtin == builtin:
        return [own]
    return [d for d in defs.values() if d.tflite_builtin == builtin]


def min_runtime(builtin: str, version: int) -> str:
    """The first TFLite runtime with `builtin` at `version`, from the OpDef(s) that write it."""
    runtimes = [d.runtime_for(version) for d in opdefs_for_builtin(builtin)] or ["1.5.0"]
    return max(runtimes, key=lambda v: tuple(int(p) for p in v.split(".")))
