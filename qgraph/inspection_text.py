"""`qgraph inspect`'s text: an `Inspection` rendered section by section (docs/inspect.md)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from qgraph.inspection_tensors import TensorInfo
from qgraph.inspection_versions import FROM_FILE

if TYPE_CHECKING:
    from qgraph.compress.stats import WeightStats
    from qgraph.inspection import Inspection

#: layers listed in the text by constant bytes; --json lists every one.
TOP_LAYERS = 10


def render(ins: Inspection, all_tensors: bool = False) -> str:
    """The whole report; `all_tensors` lists constants too in the tensor table."""
    s = ins.summary
    lines = [
        f"model {s['name']}: {s['ops']} ops, {s['tensors']} tensors, {s['parameters']:,} parameters "
        f"({s['parameter_bytes'] / 1e6:.2f} MB as stored)",
        "inputs:  " + ", ".join(f"{k} {v}" for k, v in s["inputs"].items()),
        "outputs: " + ", ".join(f"{k} {v}" for k, v in s["outputs"].items()),
        "ops by type:",
        *(f"  {t:26s} {n}" for t, n in s["ops_by_type"].items()),
    ]
    for section in (_quantization(ins, all_tensors), _sizes(ins), _versions(ins), _target(ins)):
        lines += ["", *section]
    return "\n".join([*lines, "", *weight_table(ins.weights)]) + "\n"


def _quantization(ins: Inspection, all_tensors: bool) -> list[str]:
    lines = ["quantization:"]
    for role, kinds in ins.quantization.items():
        lines.append(f"  {role + ':':13s}" + (", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"))
    shown = ins.tensors if all_tensors else [t for t in ins.tensors if not t.constant]
    lines.append(
        "tensors (constants: bytes, dense; activations: bytes at batch 1):"
        if all_tensors
        else "activation tensors (bytes at batch 1; --tensors lists the constants too):"
    )
    lines.append(f"  {'tensor':40s} {'dtype':7s} {'shape':14s} {'bytes':>9s}  quantization")
    lines += [_tensor_row(t) for t in shown]
    return lines


def _tensor_row(t: TensorInfo) -> str:
    shape = "x".join("?" if d < 0 else str(d) for d in t.shape) or "scalar"
    quant = str(t.quant) if t.quant else "-"
    return f"  {cut(t.name.split(';')[0], 40):40s} {t.dtype:7s} {cut(shape, 14):14s} {t.nbytes:9,}  {quant}"


def _sizes(ins: Inspection) -> list[str]:
    z = ins.sizes
    lines = [
        "sizes:",
        f"  constants      {z.constant_bytes:12,} bytes in {z.constant_tensors} tensors (dense)",
        f"  activations    {z.activation_bytes:12,} bytes in {z.activation_tensors} tensors (batch 1)",
        f"  peak estimate  {z.peak_activation_bytes:12,} bytes of activations live at once, at op "
        f"{z.peak_op} (execution order, no arena reuse or in-place ops)",
        *(
            [f"  loaded copies  {z.loaded_copy_bytes:12,} bytes of float weights dequantized once, at load"]
            if z.loaded_copy_bytes
            else []
        ),
        "  constant bytes by op type:",
        *(f"    {t:24s} {n:12,} {_share(n, z.constant_bytes)}" for t, n in z.by_op_type.items()),
        "  constant bytes by layer:",
    ]
    layers = list(z.by_layer.items())
    lines += [
        f"    {cut(name, 24):24s} {n:12,} {_share(n, z.constant_bytes)}" for name, n in layers[:TOP_LAYERS]
    ]
    if len(layers) > TOP_LAYERS:
        rest, more = sum(n for _, n in layers[TOP_LAYERS:]), len(layers) - TOP_LAYERS
        label = f"({more} more layer{'s' if more > 1 else ''})"
        lines.append(f"    {label:24s} {rest:12,} {_share(rest, z.constant_bytes)}  (--json lists all)")
    return lines


def _share(n: int, total: int) -> str:
    return f"{n / total:6.1%}" if total else ""


def _versions(ins: Inspection) -> list[str]:
    v = ins.versions
    lines = [f"op versions ({v.source}):"]
    if v.note:
        return [*lines, f"  {v.note}"]
    lines += [f"  {o.op:26s} v{o.version:<3d} runtime >= {o.min_runtime or '? (no OpDef)'}" for o in v.ops]
    computed = f"{v.min_runtime or '?'} (qgraph's op registry)"
    if v.source != FROM_FILE or v.file_min_runtime is None:
        absent = "" if v.source != FROM_FILE else "; the file has no min_runtime_version metadata"
        lines.append(f"minimum runtime: {computed}{absent}")
    else:
        agree = "" if v.file_min_runtime == v.min_runtime else "  (they differ)"
        lines.append(f"minimum runtime: {v.file_min_runtime} (the file's metadata), {computed}{agree}")
    return lines


def _target(ins: Inspection) -> list[str]:
    c = ins.target
    if c is None:
        return []
    if not c.problems:
        lines = [f"target {c.target}: all {c.ops} ops of {c.checked} run on {c.target}"]
    else:
        lines = [f"target {c.target}: {c.unsupported_ops} of {c.ops} ops of {c.checked} cannot run on it:"]
        for p in c.problems:
            layer = c.layers.get(p.op, p.op)
            lines.append(f"  {p.op} ({p.op_type}{'' if layer == p.op else ', layer ' + layer}): {p.reason}")
    return lines + [f"  note: {n}" for n in c.notes]


def weight_table(weights: list[WeightStats]) -> list[str]:
    """One line per weight tensor, columns cut to fit: its name (what names a weight in a
    Keras model, qgraph's file and the converter's alike, e.g. `conv/kernel`; a converter's
    `;`-joined fused name by its first part; less the prefix all share), op type, shape,
    dtype, share of zeros, distinct values in all of it and at most in one output channel
    ("-": no channel axis)."""
    size = sum(w.size for w in weights)
    zeros = sum(w.zeros for w in weights)
    lines = [
        f"weights: {len(weights)} tensors, {size:,} values, "
        f"{zeros / size if size else 0.0:.1%} zero (sparsity of all weights)"
    ]
    if not weights:
        return lines
    names = [w.tensor.split(";")[0] for w in weights]
    prefix = os.path.commonprefix(names)
    prefix = prefix[: prefix.rfind("/") + 1]
    lines.append(
        f"  {'weight tensor' + (' in ' + prefix if prefix else ''):40s} {'op type':17s} {'shape':14s} "
        f"{'dtype':7s} {'sparsity':>8s} {'distinct':>9s} {'max/chan':>8s}"
    )
    for w, name in zip(weights, names, strict=True):
        shape = "x".join(map(str, w.shape))
        per_channel = "-" if w.channel_axis is None else f"{w.distinct_per_channel:,}"
        lines.append(
            f"  {cut(name[len(prefix) :], 40):40s} {cut(w.op_type, 17):17s} {cut(shape, 14):14s} "
            f"{w.dtype:7s} {w.sparsity:8.1%} {w.distinct:9,} {per_channel:>8s}"
        )
    return lines


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, keeping its end (the specific part of a name)."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]
