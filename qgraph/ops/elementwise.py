"""Element-wise ops: binary arithmetic (ADD, SUB, MUL, MAXIMUM, MINIMUM) and activations."""

from __future__ import annotations

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.ops.kernels import apply_fused, keras_ops
from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.tflite_options import fused, options

#: int8 kernels of version 2 first shipped in TFLite 1.14.
INT8_V2_RUNTIME = {1: "1.5.0", 2: "1.14.0"}


def _binary(
    op_type: str,
    options_type: str,
    cls: type,
    keras_name: str,
    runtime: str,
    version_rule=None,
    tf_ops: tuple[str, ...] = (),
) -> OpDef:
    def encode(op, ctx):
        return OpEncoding(op_type, 1, options_type, options(cls, fusedActivationFunction=fused(op)))

    def kernel(ins, a):
        return apply_fused(getattr(keras_ops(), keras_name)(ins[0], ins[1]), a.get("fused", "NONE"))

    return OpDef(
        op_type,
        f"element-wise {keras_name} with broadcasting and a fused activation",
        attrs={"fused": "NONE"},
        fuses_activation=True,
        tflite_builtin=op_type,
        encode=encode,
        int8_version=2,
        version_rule=version_rule,
        min_runtime={1: runtime, 2: "1.14.0", **({3: "1.15.0"} if version_rule else {})},
        kernel=kernel,
        tf_ops=tf_ops,
    )


def _mul_version(op, ctx, version: int) -> int:
    """int8 MUL is version 3 when input_scale * input_scale / output_scale >= 1 (op_version.cc)."""
    ins, out = ctx.graph.inputs_of(op), ctx.graph.outputs_of(op)[0]
    if ins[0].dtype not in ("int8", "uint8") or any(t.quant is None for t in (*ins[:2], out)):
        return version
    ratio = float(ins[0].quant.scale[0]) * float(ins[1].quant.scale[0]) / float(out.quant.scale[0])
    return max(version, 3) if ratio >= 1.0 else version


def _max_min(op_type: str, keras_name: str, tf_op: str) -> OpDef:
    def kernel(ins, a):
        return getattr(keras_ops(), keras_name)(ins[0], ins[1])

    return OpDef(
        op_type,
        f"element-wise {keras_name}; int8 inputs share the output's scale",
        shared_input_scale=True,
        tflite_builtin=op_type,
        encode=lambda op, ctx: OpEncoding(op_type, 1, "MaximumMinimumOptions", S.MaximumMinimumOptionsT()),
        int8_version=2,
        min_runtime={1: "1.14.0", 2: "1.14.0"},
        kernel=kernel,
        tf_ops=(tf_op,),
    )


def _unary(
    op_type: str,
    doc: str,
    kernel,
    runtime: str = "1.5.0",
    int8_version: int = 2,
    fixed_output: tuple[float, int] | None = None,
    tf_ops: tuple[str, ...] = (),
) -> OpDef:
    return OpDef(
        op_type,
        doc,
        shape="same",
        fixed_output=fixed_output,
        tflite_builtin=op_type,
        encode=lambda op, ctx: OpEncoding(op_type, 1),
        int8_version=int8_version,
        min_runtime={1: runtime, 2: "1.14.0"} if int8_version == 2 else {1: runtime},
        kernel=kernel,
        tf_ops=tf_ops,
    )


def _encode_leaky_relu(op, ctx):
    return OpEncoding(
        "LEAKY_RELU", 1, "LeakyReluOptions", options(S.LeakyReluOptionsT, alpha=float(op.attrs["alpha"]))
    )


def _encode_softmax(op, ctx):
    beta = float(op.attrs.get("beta", 1.0))
    return OpEncoding("SOFTMAX", 1, "SoftmaxOptions", options(S.SoftmaxOptionsT, beta=beta))


def _softmax_kernel(ins, a):
    beta = a.get("beta", 1.0)
    return keras_ops().softmax(ins[0] if beta == 1.0 else ins[0] * beta, axis=-1)


OPS = [
    _binary("ADD", "AddOptions", S.AddOptionsT, "add", "1.5.0", tf_ops=("AddV2", "Add")),
    _binary("SUB", "SubOptions", S.SubOptionsT, "subtract", "1.6.0", tf_ops=("Sub",)),
    _binary(
        "MUL", "MulOptions", S.MulOptionsT, "multiply", "1.5.0", version_rule=_mul_version, tf_ops=("Mul",)
    ),
    _max_min("MAXIMUM", "maximum", "Maximum"),
    _max_min("MINIMUM", "minimum", "Minimum"),
    _unary("RELU", "max(x, 0)", lambda ins, a: apply_fused(ins[0], "RELU"), tf_ops=("Relu",)),
    _unary("RELU6", "min(max(x, 0), 6)", lambda ins, a: apply_fused(ins[0], "RELU6"), tf_ops=("Relu6",)),
    _unary(
        "RELU_N1_TO_1", "clip(x, -1, 1)", lambda ins, a: apply_fused(ins[0], "RELU_N1_TO_1"), int8_version=1
    ),
    _unary(
        "LOGISTIC",
        "sigmoid",
        lambda ins, a: keras_ops().sigmoid(ins[0]),
        fixed_output=(1.0 / 256.0, -128),
        tf_ops=("Sigmoid",),
    ),
    _unary(
        "TANH",
        "tanh",
        lambda ins, a: keras_ops().tanh(ins[0]),
        "1.14.0",
        fixed_output=(1.0 / 128.0, 0),
        tf_ops=("Tanh",),
    ),
    _unary("HARD_SWISH", "x * relu6(x + 3) / 6", lambda ins, a: keras_ops().hard_swish(ins[0]), "1.15.0", 1),
]
OPS += [
    OpDef(
        "LEAKY_RELU",
        "x if x > 0 else alpha * x",
        attrs={"alpha": REQUIRED},
        shape="same",
        tflite_builtin="LEAKY_RELU",
        encode=_encode_leaky_relu,
        int8_version=2,
        min_runtime={1: "1.13.1", 2: "1.14.0"},
        kernel=lambda ins, a: keras_ops().leaky_relu(ins[0], negative_slope=a["alpha"]),
        tf_ops=("LeakyRelu",),  # its `alpha` attribute has the same name
    ),
    OpDef(
        "SOFTMAX",
        "softmax over the last axis, of beta * x",
        attrs={"beta": 1.0},
        shape="same",
        fixed_output=(1.0 / 256.0, -128),
        tflite_builtin="SOFTMAX",
        encode=_encode_softmax,
        int8_version=2,
        min_runtime=INT8_V2_RUNTIME,
        kernel=_softmax_kernel,
        tf_ops=("Softmax",),  # TF's Softmax is over the last axis, with beta 1
    ),
]
