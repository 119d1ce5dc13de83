"""The lowering table and what every lowering uses: Keras layer class -> function(ctx)
-> output tensors, the `LowerCtx` a lowering writes ops through, and the Keras activations.

Lowerings are keyed by the class itself, never its bare name: Keras 3's `keras.ops.add`
node (class `keras.src.ops.numpy.Add`) and the merge layer `keras.layers.Add` share a
name and nothing else. `@lowers("Conv2D")` names the public layer `keras.layers.Conv2D`
(and `tf_keras.layers.Conv2D` when tf-keras is loaded); a dotted path names any class; a
class object names itself. Paths are resolved when a model is lowered, so importing qgraph
does not import Keras. A subclass that overrides `call` is not lowered as its base: its
computation is not the base's (it goes to the traced-graph lowering of `tf_graph.py`).

Weights are stored in TFLite layout (CONV_2D filter OHWI, DEPTHWISE_CONV_2D 1HW(C*M),
FULLY_CONNECTED (out, in)) so the serializer copies them as they are. Layers that map to
a fixed op sequence (Flatten, Rescaling, SeparableConv2D, swish, ...) are lowered to
that sequence; rewrites that depend on context (BatchNorm folding, activation fusion, pad
folding, identity removal) are passes. Activations of Conv2D / Dense are lowered as
separate ops so that BatchNorm can fold first; `fuse_activation` fuses them.

The lowerings themselves live in `keras_layers.py` (activations, identities),
`keras_layers_nn.py` (compute, merge, shape layers) and `keras_layers_qat.py` (qgraph's
own QAT layers); `frontend/keras.py` imports all three.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgraph.errors import UnsupportedLayerError
from qgraph.ir import Graph, Op, Tensor


@dataclass
class LowerCtx:
    graph: Graph
    layer: Any
    name: str
    inputs: list[Tensor]
    out_shapes: list[tuple[int, ...]]
    #: the call's positional and keyword arguments, Keras tensors replaced by their IR tensors
    #: (`mha(query, value, attention_mask=m)`; `x + 3.0` has args (x, 3.0)).
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> Tensor:
        return self.inputs[0]

    def const(self, suffix: str, data: Any, dtype: str = "float32") -> Tensor:
        return self.graph.const(f"{self.name}/{suffix}", np.asarray(data, dtype=dtype), dtype)

    def emit(
        self,
        type_: str,
        inputs: list[Tensor],
        shape: tuple[int, ...] | None = None,
        suffix: str = "",
        **attrs: Any,
    ) -> Tensor:
        """Add one op; its output gets `shape` (default: the layer's output shape)."""
        name = f"{self.name}/{suffix}" if suffix else self.name
        out = self.graph.add_tensor(Tensor(f"{name}:0", shape or self.out_shapes[0], "float32"))
        self.graph.add_op(
            Op(name, type_, attrs, {"layer": self.layer.name, "class": type(self.layer).__name__}),
            inputs,
            [out],
        )
        return out

    def fail(self, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"layer {self.layer.name!r} (class {type(self.layer).__name__}): {why}")

    def weight(self, attr: str) -> np.ndarray | None:
        v = getattr(self.layer, attr, None)
        return None if v is None else np.asarray(v.numpy(), dtype=np.float32)


Lowering = Callable[[LowerCtx], list[Tensor]]
#: class spec (public layer name, dotted class path, or class) -> lowering.
LOWERINGS: dict[str | type, Lowering] = {}
_resolved: tuple[tuple, dict[type, Lowering]] | None = None


def lowers(*specs: str | type):
    """Register a lowering for each class spec: "Conv2D" (keras.layers / tf_keras.layers),
    "keras.src.ops.numpy.Add" (a dotted path) or a class object."""

    def register(fn: Lowering) -> Lowering:
        for spec in specs:
            LOWERINGS[spec] = fn
        return fn

    return register


def spec_name(spec: str | type) -> str:
    return spec if isinstance(spec, str) else f"{spec.__module__}.{spec.__qualname__}"


def _classes(spec: str | type) -> list[type]:
    if not isinstance(spec, str):
        return [spec]
    if "." in spec:
        module, _, name = spec.rpartition(".")
        roots = [module]
    else:  # a public layer: Keras 3's, and tf-keras's when a tf-keras model brought it in
        name = spec
        roots = ["keras.layers"] + (["tf_keras.layers"] if "tf_keras" in sys.modules else [])
    found = []
    for root in roots:
        try:
            cls = getattr(importlib.import_module(root), name, None)
        except ImportError:
            continue
        if isinstance(cls, type):
            found.append(cls)
    return found


def _table() -> dict[type, Lowering]:
    global _resolved
    key = (tuple(LOWERINGS.items()), "tf_keras" in sys.modules)
    if _resolved is None or _resolved[0] != key:
        table: dict[type, Lowering] = {}
        for spec, fn in LOWERINGS.items():
            for cls in _classes(spec):
                table[cls] = fn
        _resolved = (key, table)
    return _resolved[1]


def lowering_for(layer: Any) -> tuple[Lowering | None, str]:
    """The lowering of `layer`'s class (or of the nearest base class whose `call` it keeps),
    and, when there is none, why."""
    table = _table()
    leaf = type(layer)
    for cls in leaf.__mro__:
        fn = table.get(cls)
        if fn is None:
            continue
        if cls is not leaf and getattr(leaf, "call", None) is not getattr(cls, "call", None):
            return None, f"it subclasses {cls.__name__} but overrides call(), so it is not lowered as one"
        return fn, ""
    return None, "qgraph has no lowering for its class"


# ---- activations -------------------------------------------------------------------
def _hard_sigmoid_slope(layer: Any) -> float:
    # tf-keras: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
    return 0.2 if type(layer).__module__.startswith("tf_keras") else 1.0 / 6.0


def activation(ctx: LowerCtx, fn_name: str, x: Tensor, suffix: str = "") -> Tensor:
    """Apply the Keras activation `fn_name` to `x` (output shape = x's shape)."""
    emit = lambda t, ins, sfx="", **a: ctx.emit(t, ins, x.shape, suffix + sfx if suffix else sfx, **a)  # noqa: E731
    if fn_name == "linear":
        return x
    simple = {
        "relu": "RELU",
        "relu6": "RELU6",
        "sigmoid": "LOGISTIC",
        "tanh": "TANH",
        "hard_silu": "HARD_SWISH",
        "hard_swish": "HARD_SWISH",
    }
    if fn_name in simple:
        return emit(simple[fn_name], [x])
    if fn_name == "softmax":
        return emit("SOFTMAX", [x], beta=1.0)
    if fn_name in ("gelu", "gelu_approximate"):  # keras.activations.gelu is the exact (erf) form
        return emit("GELU", [x], approximate=fn_name == "gelu_approximate")
    if fn_name in ("silu", "swish"):
        return emit("MUL", [x, emit("LOGISTIC", [x], "sigmoid")], fused="NONE")
    if fn_name == "hard_sigmoid":
        slope = _hard_sigmoid_slope(ctx.layer)
        scaled = emit("MUL", [x, ctx.const(f"{suffix}hs_scale", 6.0 * slope)], "hs_mul", fused="NONE")
        shifted = emit("ADD", [scaled, ctx.const(f"{suffix}hs_offset", 3.0)], "hs_add", fused="NONE")
        clipped = emit("RELU6", [shifted], "hs_relu6")
        return emit("MUL", [clipped, ctx.const(f"{suffix}hs_div", 1.0 / 6.0)], fused="NONE")
    raise ctx.fail(
        f"activation {fn_name!r} is not supported; supported: linear, relu, relu6, sigmoid, tanh, "
        "softmax, silu/swish, hard_sigmoid, hard_silu/hard_swish, gelu, gelu_approximate"
    )


def act_name(layer: Any) -> str:
    fn = getattr(layer, "activation", None)
    return "linear" if fn is None else getattr(fn, "__name__", str(fn))


def with_activation(ctx: LowerCtx, op_type: str, inputs: list[Tensor], **attrs: Any) -> list[Tensor]:
    act = act_name(ctx.layer)
    if act == "linear":
        return [ctx.emit(op_type, inputs, fused="NONE", **attrs)]
    pre = ctx.emit(op_type, inputs, suffix=op_type.lower(), fused="NONE", **attrs)
    return [activation(ctx, act, pre)]
