"""What a target cannot run in a graph, and why (`qgraph inspect --target T`).

`Target.check` reads the target's op table and op rules. A file also has tensor types, which
`qgraph.compile` settles through the target's quantize mode; for a file written for another
target or by another writer, this check adds what the types break: float activations on a target that runs integers only (edgetpu), per-axis
weights on one that takes per-tensor weights, op versions above the delegate's maximum, I/O
types the target does not take, unknown dimensions where it needs static shapes.

    >>> check_target(get_target("edgetpu"), qgraph.load("digits_float.tflite"), {}).problems[0]
    Incompatibility(op='conv_2d_0', op_type='CONV_2D', reason="float32 activations: target 'edgetpu' ...")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qgraph.errors import TargetError
from qgraph.inspection_sizes import naming, op_layer
from qgraph.inspection_tensors import is_activation
from qgraph.ir import Graph, Op
from qgraph.ops import op_facts
from qgraph.targets import Incompatibility, Target

FLOAT = ("float32", "float16")
#: ops that convert between float and integer at a model's edges (the target's I/O types say
#: whether those edges may be float: a note, not an op it cannot run).
CONVERSIONS = ("QUANTIZE", "DEQUANTIZE")


@dataclass(frozen=True)
class TargetCheck:
    """The ops `target` cannot run (in op order; an op may be named once per reason), out of
    `ops`, and the layer of each of them (by op name); `notes` on the whole model (versions,
    I/O types, shapes); `checked` names the graph checked (the file, or qgraph's float compile
    of a Keras model)."""

    target: str
    ops: int
    problems: tuple[Incompatibility, ...]
    notes: tuple[str, ...]
    checked: str
    layers: dict[str, str]

    @property
    def unsupported_ops(self) -> int:
        return len({p.op for p in self.problems})


def check_target(
    target: Target, graph: Graph, versions: Mapping[str, int], checked: str = "the file", types: bool = True
) -> TargetCheck:
    """Check `graph` against `target`: its table and rules, and with `types` the tensor types
    too (off for qgraph's float compile of a Keras model, whose types compiling for the target
    would set). `versions` maps builtins to the versions the file has."""
    ops = graph.ops()
    problems = list(target.check(graph))
    notes = list(target.version_fallbacks(versions))
    if types:
        problems += [
            Incompatibility(op.name, op.type, r) for op in ops for r in _type_reasons(target, op, graph)
        ]
        order = {op.name: k for k, op in enumerate(ops)}
        problems.sort(key=lambda p: order.get(p.op, len(order)))  # stable: check's reason first
        notes += _io_notes(target, graph)
    else:
        notes.append(f"tensor types not checked: compiling for {target.name} sets them")
    try:
        target.require_static_shapes(graph)
    except TargetError as e:
        notes.append(str(e))
    style = naming(graph)
    layers = {p.op: op_layer(graph, graph.op(p.op), style) for p in problems if p.op in graph.nx}
    return TargetCheck(target.name, len(ops), tuple(problems), tuple(notes), checked, layers)


def _type_reasons(target: Target, op: Op, graph: Graph) -> list[str]:
    reasons = []
    if "float" not in target.quantize_modes and op.type not in CONVERSIONS:
        floats = sorted(
            {
                t.dtype
                for t in graph.inputs_of(op) + graph.outputs_of(op)
                if is_activation(t) and t.dtype in FLOAT
            }
        )
        if floats:
            reasons.append(
                f"{'/'.join(floats)} activations: target {target.name!r} runs "
                f"{' or '.join(target.quantize_modes)} models only (compile with --quantize {target.default_quantize})"
            )
    port = op_facts(op.type).weight_port
    ins = graph.inputs_of(op)
    if not target.per_axis_weights and port is not None and port < len(ins):
        q = ins[port].quant
        if q is not None and q.per_axis and q.scale.size > 1:
            reasons.append(
                f"per-axis weights {ins[port].name.split(';')[0]!r} (axis {q.axis}, {q.scale.size} scales): "
                f"target {target.name!r} takes per-tensor weights only"
            )
    return reasons


def _io_notes(target: Target, graph: Graph) -> list[str]:
    return [
        f"{kind} {name!r} is {graph.tensor(name).dtype}; target {target.name!r} takes "
        f"{', '.join(target.io_dtypes)} inputs and outputs"
        for kind, names in (("input", graph.inputs), ("output", graph.outputs))
        for name in names
        if graph.tensor(name).dtype not in target.io_dtypes
    ]
