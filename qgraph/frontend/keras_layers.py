"""The lowering table: Keras layer class name -> function(ctx) -> output tensors.

Weights are stored in TFLite layout (CONV_2D filter OHWI, DEPTHWISE_CONV_2D 1HW(C*M),
FULLY_CONNECTED (out, in)) so the serializer copies them as they are. Layers that map to
a fixed op sequence (Flatten, Rescaling, SeparableConv2D, swish, ...) are lowered to
that sequence here; rewrites that depend on context (BatchNorm folding, activation
fusion, pad folding, identity removal) are passes. Activations of Conv2D / Dense are
lowered as separate ops so that BatchNorm can fold first; `fuse_activation` fuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


LOWERINGS: dict[str, Callable[[LowerCtx], list[Tensor]]] = {}


def lowers(*class_names: str):
    def register(fn):
        for n in class_names:
            LOWERINGS[n] = fn
        return fn

    return register


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
        "softmax, silu/swish, hard_sigmoid, hard_silu/hard_swish"
    )


def _act_name(layer: Any) -> str:
    fn = getattr(layer, "activation", None)
    return "linear" if fn is None else getattr(fn, "__name__", str(fn))


def _with_activation(ctx: LowerCtx, op_type: str, inputs: list[Tensor], **attrs: Any) -> list[Tensor]:
    act = _act_name(ctx.layer)
    if act == "linear":
        return [ctx.emit(op_type, inputs, fused="NONE", **attrs)]
    pre = ctx.emit(op_type, inputs, suffix=op_type.lower(), fused="NONE", **attrs)
    return [activation(ctx, act, pre)]


@lowers("Activation")
def _activation_layer(ctx):
    out = activation(ctx, _act_name(ctx.layer), ctx.x)
    return [out if out is not ctx.x else ctx.emit("IDENTITY", [ctx.x])]


@lowers("ReLU")
def _relu(ctx):
    cfg = ctx.layer.get_config()
    max_value, slope, threshold = (
        cfg.get("max_value"),
        cfg.get("negative_slope", 0.0),
        cfg.get("threshold", 0.0),
    )
    if threshold:
        raise ctx.fail(f"ReLU threshold={threshold} is not supported (only 0)")
    if slope and max_value is None:
        return [ctx.emit("LEAKY_RELU", [ctx.x], alpha=float(slope))]
    if slope:
        raise ctx.fail("ReLU with both negative_slope and max_value is not supported")
    if max_value is None:
        return [ctx.emit("RELU", [ctx.x])]
    if float(max_value) == 6.0:
        return [ctx.emit("RELU6", [ctx.x])]
    raise ctx.fail(f"ReLU max_value={max_value} is not supported (only None or 6)")


@lowers("LeakyReLU")
def _leaky(ctx):
    alpha = ctx.layer.get_config().get("negative_slope", ctx.layer.get_config().get("alpha", 0.3))
    return [ctx.emit("LEAKY_RELU", [ctx.x], alpha=float(alpha))]


@lowers("Softmax")
def _softmax(ctx):
    axis = ctx.layer.get_config().get("axis", -1)
    axis = axis[0] if isinstance(axis, list | tuple) and len(axis) == 1 else axis
    if axis not in (-1, len(ctx.x.shape) - 1):
        raise ctx.fail(f"Softmax over axis {axis} is not supported (only the last axis)")
    return [ctx.emit("SOFTMAX", [ctx.x], beta=1.0)]


@lowers(
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)
def _identity(ctx):
    return [ctx.emit("IDENTITY", [ctx.x])]


from qgraph.frontend import keras_layers_nn, keras_layers_qat  # noqa: E402,F401  (register the other layers)
