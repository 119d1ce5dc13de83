"""The operator layer of a .tflite check, and the check of the graph the reader builds.

Before decoding: an operator has the number of inputs and outputs LiteRT's kernel takes, and its
option fields hold values the schema defines (a padding of 7 or a stride of 0 is damage, not a
graph). After building: the weights have the channel axes their op reads them by, and the graph
passes lint, except for ops qgraph has no OpDef for (a valid file may hold them: they are read
to be inspected, and lint names them when the graph is compiled).
"""

from __future__ import annotations

from typing import Any

from qgraph.emit.schema import S
from qgraph.errors import LintError, ModelFileError
from qgraph.frontend.tflite_verify import Damaged
from qgraph.ir import Graph, Tensor
from qgraph.ops import OpDef, op_defs

#: (inputs, outputs) LiteRT's kernels require (their Prepare checks; an omitted optional input
#: counts), for the ops qgraph reads most, whose inputs qgraph's passes and inspection unpack.
_ARITY = {
    **dict.fromkeys(("ADD", "SUB", "MUL", "DIV", "MEAN"), ((2,), (1,))),
    **dict.fromkeys(("CONV_2D", "DEPTHWISE_CONV_2D"), ((2, 3), (1,))),
    "FULLY_CONNECTED": ((2, 3), (1, 2)),
    "RESHAPE": ((1, 2), (1,)),
    "PAD": ((2,), (1,)),
    **dict.fromkeys(
        ("QUANTIZE", "DEQUANTIZE", "AVERAGE_POOL_2D", "MAX_POOL_2D", "SOFTMAX", "LOGISTIC", "TANH")
        + ("RELU", "RELU6", "HARD_SWISH"),
        ((1,), (1,)),
    ),
}
#: option fields that hold an enum: (the enum's name, its values).
_ENUM_FIELDS = {
    field: (enum.__name__, {v for k, v in vars(enum).items() if not k.startswith("_")})
    for field, enum in (("padding", S.Padding), ("fusedActivationFunction", S.ActivationFunctionType))
}
_POSITIVE_FIELDS = ("strideH", "strideW", "dilationHFactor", "dilationWFactor", "filterHeight", "filterWidth")


def check_operator(where: str, builtin: str, o: Any) -> None:
    """Operator `o` (an `OperatorT` of builtin `builtin`) can be decoded."""
    counts = _ARITY.get(builtin)
    n_in, n_out = (0 if v is None else len(v) for v in (o.inputs, o.outputs))
    if counts is not None and (n_in not in counts[0] or n_out not in counts[1]):
        want = " or ".join(map(str, counts[0])), " or ".join(map(str, counts[1]))
        raise Damaged(
            f"{where}: {n_in} inputs and {n_out} outputs, LiteRT's {builtin} takes {want[0]} inputs "
            f"and {want[1]} outputs"
        )
    options = o.builtinOptions
    if options is None:
        return
    for name, (enum, values) in _ENUM_FIELDS.items():
        value = getattr(options, name, None)
        if value is not None and value not in values:
            raise Damaged(f"{where}: option {name} = {value} is not a {enum} value")
    for name in _POSITIVE_FIELDS:
        size: int = getattr(options, name, 1)
        if size < 1:
            raise Damaged(f"{where}: option {name} = {size}, it must be at least 1")


def check_weights(where: str, d: OpDef, inputs: list[Tensor | None]) -> None:
    """The weights have the channel axes the op reads them by (weight stats, folding, quantization)."""
    w = inputs[d.weight_port] if d.weight_port is not None and len(inputs) > d.weight_port else None
    if w is None:
        return
    for axis in (d.output_channel_axis, d.input_channel_axis):
        if axis is not None and not -len(w.shape) <= axis < len(w.shape):
            raise Damaged(
                f"{where}: its weights {w.name!r} have shape {w.shape}, without the channel axis "
                f"{axis} the op reads"
            )


def lint_read_graph(graph: Graph, label: str) -> None:
    """`graph.lint()`, less its complaint about ops with no OpDef, as a `ModelFileError`."""
    defined = op_defs()
    ops = [d["obj"] for _, d in graph.nx.nodes(data=True) if d["kind"] == "op"]  # ops() needs no cycle
    undefined = {f"op {op.name!r}: unknown type {op.type!r}" for op in ops if op.type not in defined}
    try:
        graph.lint()
    except LintError as e:
        problems = [p for p in str(e).split("\n  ")[1:] if p.split(" (no OpDef")[0] not in undefined]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ModelFileError(
                f"{label}: the graph read from it is inconsistent, {problems[0]}{more}: the file is "
                "damaged, or holds what qgraph cannot read"
            ) from None
