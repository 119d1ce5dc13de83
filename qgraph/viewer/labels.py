"""Text the viewer shows for tensors and ops: shapes, dtypes and quantization in a few
characters, the name of a constant's role (`kernel`, `bias`), and an error entry's figures
and colour.

    >>> shape_text((-1, 8, 8, 16))
    '?x8x8x16'
    >>> quant_text(QuantParams([0.0094], [-128]))
    's=0.0094 zp=-128'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from qgraph.ir import Op, QuantParams, Tensor

#: SQNR bounds (dB) of the error overlay: below the first red, below the second orange, else green.
SQNR_RED, SQNR_ORANGE = 10.0, 20.0
#: (fill, border) of a node by its error class; "none": an op with no error entry.
COLOURS = {
    "red": ("#f6c1c1", "#c62828"),
    "orange": ("#ffdca8", "#e65100"),
    "green": ("#c8e6c9", "#2e7d32"),
    "none": ("#f7f9fc", "#7b8ba1"),
}


def shape_text(shape: tuple[int, ...]) -> str:
    """`16x3x3x1`; `?` for a dimension known only at run time (the batch); `scalar` for ()."""
    return "x".join("?" if d < 0 else str(d) for d in shape) or "scalar"


def quant_text(q: QuantParams | None, full: bool = False, dtype: str | None = None) -> str:
    """Per-tensor `s=0.0094 zp=-128`; per-axis `per-axis(0)`, with `full` also the number of
    scales, their range and the zero points. Prefixed with the quantized dtype when the
    tensor's `dtype` is another (mid-pipeline, a float tensor carries its future int8 params)."""
    if q is None:
        return ""
    prefix = f"{q.dtype} " if dtype is not None and q.dtype != dtype else ""
    if not q.per_axis:
        return f"{prefix}s={q.scale[0]:.3g} zp={int(q.zero_point[0])}"
    if not full:
        return f"{prefix}per-axis({q.axis})"
    zp_lo, zp_hi = int(q.zero_point.min()), int(q.zero_point.max())
    zp = str(zp_lo) if zp_lo == zp_hi else f"{zp_lo}..{zp_hi}"
    return (
        f"{prefix}per-axis({q.axis}): {q.scale.size} scales {q.scale.min():.3g}..{q.scale.max():.3g}, zp={zp}"
    )


def tensor_line(t: Tensor) -> str:
    """`?x8x8x16 int8 s=0.0094 zp=-128`: shape, dtype and (compact) quantization; a float
    tensor with int8 parameters still to apply: `?x8x8x16 float32 (int8 s=0.0094 zp=-128)`."""
    quant = quant_text(t.quant, dtype=t.dtype)
    if t.quant is not None and t.quant.dtype != t.dtype:
        quant = f"({quant})"
    return " ".join(part for part in (shape_text(t.shape), t.dtype, quant) if part)


def const_role(op_type: str, port: int, tensor: Tensor, defs: Mapping[str, Any]) -> str:
    """What the constant at `port` is: `kernel` / `bias` by the op's definition, else the
    last part of its name (`stem_bn/gamma` -> `gamma`; a converter's `a;b` name by `a`)."""
    d = defs.get(op_type)
    if d is not None and port == d.weight_port:
        return "kernel"
    if d is not None and port == d.bias_port:
        return "bias"
    return cut(tensor.name.split(";")[0].rstrip("/").split("/")[-1], 18)


def tensor_info(t: Tensor, role: str = "") -> dict[str, Any]:
    """A tensor as the details panel shows it (JSON-ready)."""
    info: dict[str, Any] = {
        "role": role,
        "name": t.name,
        "shape": shape_text(t.shape),
        "dtype": t.dtype,
        "quant": quant_text(t.quant, full=True, dtype=t.dtype),
        "const": t.data is not None,
    }
    if t.data is not None and t.data.size and np.issubdtype(t.data.dtype, np.number):
        info["values"] = f"{t.data.size:,} values in {t.data.min():.4g}..{t.data.max():.4g}"
    return info


def attrs_text(op: Op) -> dict[str, str]:
    """`op.attrs` as short strings (an array attribute cut to fit the panel)."""
    return {k: cut(str(v), 80) for k, v in sorted(op.attrs.items())}


def match_error(op: Op, outputs: list[Tensor], errors: Mapping[str, Any]) -> str | None:
    """The key of `errors` that belongs to `op`: one of its output tensors' names (also
    without a `:0` suffix, the Keras layer name a .tflite keeps on tensors), its name, or
    its name's first `/` part (the Keras layer of an op lowered from a nested model)."""
    candidates = [t.name for t in outputs]
    candidates += [m.group(1) for t in outputs if (m := re.fullmatch(r"(.+):\d+", t.name))]
    candidates += [op.name, op.name.split("/")[0]]
    return next((k for k in candidates if k in errors), None)


def error_class(entry: Mapping[str, Any]) -> str:
    """ "red", "orange" or "green" by the entry's own SQNR (`own_db`, from `qgraph verify`: the
    error the layer adds itself, null when none) if it has one, else by its SQNR; "none" when
    it has neither. An infinite SQNR (an exact match) is green; NaN is red (nothing to trust)."""
    key = "own_db" if "own_db" in entry else "sqnr_db"
    sqnr = entry.get(key)
    if sqnr is None:
        return "green" if key == "own_db" else "none"
    sqnr = float(sqnr)
    if math.isnan(sqnr) or sqnr < SQNR_RED:
        return "red"
    return "orange" if sqnr < SQNR_ORANGE else "green"


def error_text(entry: Mapping[str, Any]) -> str:
    """`SQNR 12.3 dB, cos 0.9981, max 0.041` with the figures the entry has."""
    parts = []
    if entry.get("sqnr_db") is not None:
        parts.append(f"SQNR {float(entry['sqnr_db']):.1f} dB")
    if "own_db" in entry:
        own = entry["own_db"]
        parts.append("own: none" if own is None else f"own {float(own):.1f} dB")
    if entry.get("cosine") is not None:
        parts.append(f"cos {float(entry['cosine']):.4f}")
    if entry.get("max_abs") is not None:
        parts.append(f"max {float(entry['max_abs']):.3g}")
    return ", ".join(parts)


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, keeping its end (the specific part of a name)."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]
