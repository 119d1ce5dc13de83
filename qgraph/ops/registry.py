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

_cache: tuple[tuple[int, ...], Mapping[str, OpDef]] | None = None


def op_defs() -> Mapping[str, OpDef]:
    """Every known op type -> its definition (read-only)."""
    global _cache
    pm = plugin_manager()
    key = tuple(id(p) for p in pm.get_plugins())
    if _cache is None or _cache[0] != key:
        merged: dict[str, OpDef] = {}
        # pluggy calls the last registered plugin first: reversed, later plugins override.
        for contributed in reversed(pm.hook.qgraph_ops()):
            for d in contributed or []:
                if not isinstance(d, OpDef):
                    raise TypeError(f"qgraph_ops() must return OpDef records, got {d!r}")
                merged[d.type] = d
        _cache = (key, MappingProxyType(merged))
    return _cache[1]


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
