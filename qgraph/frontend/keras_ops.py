"""Lowerings of Keras 3 operation nodes: `keras.ops.*` calls in a functional model.

`x + 3.0` in a Keras 3 functional model is a `keras.src.ops.numpy.Add` node whose call
arguments are `(x, 3.0)`: the scalar is an argument, not an input tensor. These lowerings
read `ctx.args`, so the scalar (or a numpy constant) becomes a constant operand, in its
place (3.0 - x is not x - 3.0). An argument that is neither a float tensor nor a numeric
constant is refused. Operations not listed here go to the traced-graph lowering
(`tf_graph.py`), like any layer qgraph has no lowering for.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from qgraph.frontend.lowering import LowerCtx, activation, lowers
from qgraph.ir import Tensor

_NUMPY = "keras.src.ops.numpy"
_NN = "keras.src.ops.nn"


def _operand(ctx: LowerCtx, value: Any, position: int) -> Tensor:
    if isinstance(value, Tensor):
        if value.dtype != "float32":
            raise ctx.fail(
                f"argument {position} is a {value.dtype} tensor; only float32 arithmetic is supported"
            )
        return value
    if isinstance(value, numbers.Real | np.ndarray | list | tuple) and not isinstance(value, bool):
        data = np.asarray(value, np.float32)
        if data.dtype.kind != "f" or not np.isfinite(data).all():
            raise ctx.fail(f"argument {position} ({value!r}) is not a finite numeric constant")
        return ctx.const(f"arg{position}", data)
    raise ctx.fail(
        f"argument {position} is {type(value).__name__} ({value!r}); supported: float tensors and numeric constants"
    )


def _operands(ctx: LowerCtx, arity: int) -> list[Tensor]:
    if len(ctx.args) != arity or ctx.kwargs:
        raise ctx.fail(
            f"called with {len(ctx.args)} positional arguments and keywords {sorted(ctx.kwargs)}; "
            f"qgraph lowers the {arity}-argument form only"
        )
    return [_operand(ctx, v, i) for i, v in enumerate(ctx.args)]


def _binary(op_type: str):
    def lower(ctx: LowerCtx) -> list[Tensor]:
        a, b = _operands(ctx, 2)
        return [ctx.emit(op_type, [a, b], fused="NONE")]

    lower.__doc__ = f"{op_type} | tensor or numeric-constant operands, in call order"
    return lower


lowers(f"{_NUMPY}.Add")(_binary("ADD"))
lowers(f"{_NUMPY}.Subtract")(_binary("SUB"))
lowers(f"{_NUMPY}.Multiply")(_binary("MUL"))
lowers(f"{_NUMPY}.Maximum")(_binary("MAXIMUM"))
lowers(f"{_NUMPY}.Minimum")(_binary("MINIMUM"))


@lowers(f"{_NUMPY}.Divide", f"{_NUMPY}.TrueDivide")
def _divide(ctx: LowerCtx) -> list[Tensor]:
    """MUL by the reciprocal (constant divisor) or DIV | a constant divisor becomes a multiplier, as the converter folds it"""
    if len(ctx.args) == 2 and not ctx.kwargs and not isinstance(ctx.args[1], Tensor):
        numerator, divisor = _operand(ctx, ctx.args[0], 0), ctx.args[1]
        data = np.asarray(divisor, np.float32)
        if data.dtype.kind != "f" or (data == 0).any():
            raise ctx.fail(f"divisor {divisor!r} must be a non-zero numeric constant")
        return [ctx.emit("MUL", [numerator, ctx.const("reciprocal", 1.0 / data)], fused="NONE")]
    a, b = _operands(ctx, 2)
    return [ctx.emit("DIV", [a, b], fused="NONE")]


@lowers(f"{_NUMPY}.Negative")
def _negative(ctx: LowerCtx) -> list[Tensor]:
    """MUL by -1 | exact"""
    (x,) = _operands(ctx, 1)
    return [ctx.emit("MUL", [x, ctx.const("minus_one", -1.0)], fused="NONE")]


@lowers(f"{_NUMPY}.Square")
def _square(ctx: LowerCtx) -> list[Tensor]:
    """MUL of the tensor by itself | exact"""
    (x,) = _operands(ctx, 1)
    return [ctx.emit("MUL", [x, x], fused="NONE")]


_ACTIVATIONS = {
    f"{_NN}.Relu": "relu",
    f"{_NN}.Relu6": "relu6",
    f"{_NN}.Sigmoid": "sigmoid",
    f"{_NUMPY}.Tanh": "tanh",
    f"{_NN}.Silu": "silu",
    f"{_NN}.HardSigmoid": "hard_sigmoid",
    f"{_NN}.HardSilu": "hard_silu",
}


def _activation_op(fn_name: str):
    def lower(ctx: LowerCtx) -> list[Tensor]:
        (x,) = _operands(ctx, 1)
        return [activation(ctx, fn_name, x)]

    lower.__doc__ = f"as the `{fn_name}` activation | keras.ops.{fn_name}(x)"
    return lower


for _path, _fn_name in _ACTIVATIONS.items():
    lowers(_path)(_activation_op(_fn_name))


@lowers(f"{_NN}.Gelu")
def _gelu(ctx: LowerCtx) -> list[Tensor]:
    """GELU | keras.ops.gelu(x, approximate=...): the tanh form unless approximate=False, as Keras"""
    (x,) = _operands(ctx, 1)
    return [activation(ctx, "gelu_approximate" if getattr(ctx.layer, "approximate", True) else "gelu", x)]
