"""Every hook qgraph calls, grouped by the phase that calls it. Marker: ``qgraph``.

A plugin is any object or module with functions named like these specs and marked with
``@qgraph.hookimpl``; register it with ``qgraph.register_plugin(obj)`` or expose it under
the entry-point group ``qgraph``. qgraph's own ops, passes and targets are plugins too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from qgraph.emit.tflite import OpEncoding, SerializeCtx
    from qgraph.ir import Graph, Op, Tensor
    from qgraph.ops import OpDef
    from qgraph.pipeline import Pass
    from qgraph.targets import Target

hookspec = pluggy.HookspecMarker("qgraph")
hookimpl = pluggy.HookimplMarker("qgraph")


# ---- registration: asked once per PassManager / target lookup -------------------------
@hookspec
def qgraph_passes() -> list[Pass]:
    """Return the passes this plugin contributes (instances of `qgraph.Pass`).

    Called when a PassManager is built (every `compile`, `qgraph passes`). The manager
    orders all passes by phase and by their `after` / `before` names.
    """
    raise NotImplementedError  # a spec: pluggy never calls its body


@hookspec
def qgraph_targets() -> list[Target]:
    """Return the targets this plugin contributes (instances of `qgraph.Target`).

    Called whenever a target is looked up by name (`compile(target=...)`, `qgraph targets`).
    Two plugins giving the same target name is an error naming both.
    """
    raise NotImplementedError  # a spec: pluggy never calls its body


@hookspec
def qgraph_ops() -> list[OpDef]:
    """Return the op definitions this plugin contributes (instances of `qgraph.OpDef`).

    Called when the op registry is built (`qgraph.op_defs()`, again after a plugin is
    registered). qgraph's own ops arrive through this hook too, first; a definition from a
    later plugin replaces an earlier one of the same type, so a plugin may override a
    built-in op. Lint, the TFLite writer and reader, the Keras emitter, the quantize passes
    and the targets all read the merged registry.
    """
    raise NotImplementedError  # a spec: pluggy never calls its body


# ---- import phase: the Keras frontend ---------------------------------------------------
@hookspec(firstresult=True)
def qgraph_lower_layer(layer: Any, inputs: list[Tensor], graph: Graph) -> list[Tensor] | None:
    """Lower one Keras `layer` applied to IR tensors `inputs`, adding ops to `graph`.

    Called for every layer before the built-in lowering table, so a plugin may also
    override a built-in lowering. Return the layer's output tensors (in Keras order),
    or None to let the next plugin or the built-in table handle the layer.
    """


# ---- serialize phase: the TFLite writer -------------------------------------------------
@hookspec(firstresult=True)
def qgraph_serialize_op(op: Op, ctx: SerializeCtx) -> OpEncoding | None:
    """Encode an IR op the built-in serializer does not know (or override one).

    Called for every op before the built-in encoder. Return an `OpEncoding`
    (builtin or custom code, version, options), or None to fall through.
    """
