"""`op_defs()`: the merged op registry, op type -> `OpDef`, from every `qgraph_ops()` hook.

qgraph's own ops arrive through the same hook as a plugin's (`qgraph.ops.builtin`); a plugin
registered later overrides a built-in definition of the same type, so a plugin can also
change how a built-in op is written or executed. The merge is cached per set of plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from qgraph.errors import UnsupportedOpError
from qgraph.ops.opdef import OpDef
from qgraph.plugin_manager import plugin_manager

# Keyed on the registered plugin objects themselves (not their ids, which a new plugin may
# reuse after an old one is freed): registering or unregistering a plugin rebuilds the merge.
_cache: tuple[tuple, Mapping[str, OpDef]] | None = None
_building = False


def op_defs() -> Mapping[str, OpDef]:
    """Every known op type -> its definition (read-only)."""
    global _cache, _building
    pm = plugin_manager()
    key = tuple(pm.list_name_plugin())
    if _cache is None or _cache[0] != key:
        if _building:
            raise RuntimeError(
                "a qgraph_ops() hook asked for the op registry while it is being built; to derive "
                "from a built-in op, start from qgraph.ops.builtin_op_defs()"
            )
        _building = True
        try:
            merged: dict[str, OpDef] = {}
            # pluggy calls the last registered plugin first: reversed, later plugins override.
            for contributed in reversed(pm.hook.qgraph_ops()):
                for d in contributed or []:
                    if not isinstance(d, OpDef):
                        raise TypeError(f"qgraph_ops() must return OpDef records, got {d!r}")
                    merged[d.type] = d
        finally:
            _building = False
        _cache = (key, MappingProxyType(merged))
    return _cache[1]


def builtin_op_defs() -> Mapping[str, OpDef]:
    """qgraph's own definitions, whatever plugins override: the base for a plugin's variant
    (`dataclasses.replace(builtin_op_defs()["RELU"], ...)`)."""
    from qgraph.ops import builtin

    return MappingProxyType({d.type: d for d in builtin.qgraph_ops()})


def op_facts(op_type: str) -> OpDef:
    """The definition of `op_type`, or a blank one (no weights, no quantization role) for a
    type qgraph does not define: a pass asking "does this op fold/quantize?" gets "no" for an
    op read from a foreign .tflite, instead of an error; lint names such ops."""
    return op_defs().get(op_type) or OpDef(op_type)


def op_def(op_type: str, *, needs: str | None = None, op_name: str | None = None) -> OpDef:
    """The definition of `op_type`; with `needs` (an OpDef field such as "kernel" or "encode"),
    a clear error when that op cannot be used that way."""
    defs = op_defs()
    d = defs.get(op_type)
    who = f"op {op_name!r} of type {op_type!r}" if op_name else f"op type {op_type!r}"
    if d is None:
        raise UnsupportedOpError(
            f"{who} is not defined: known op types are {', '.join(sorted(defs))}. "
            "Plugins add ops with the qgraph_ops hook (docs/hooks.md)."
        )
    if needs is not None and getattr(d, needs) is None:
        able = sorted(t for t, other in defs.items() if getattr(other, needs) is not None)
        raise UnsupportedOpError(f"{who} has no {needs} in its OpDef; ops that have one: {', '.join(able)}")
    return d
