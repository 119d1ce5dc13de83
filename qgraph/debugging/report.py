"""`Verification` as text: the final outputs, then one line per matched layer, worst first."""

from __future__ import annotations

import math
from typing import Any

COLUMNS = f"  {'layer':22s} {'SQNR dB':>8s} {'own dB':>7s} {'cosine':>8s} {'max |err|':>10s}  {'shape':14s} tensor in the file"


def render(v: Any, top: int | None = None) -> str:
    lines = [
        f"{v.file} against {v.model} on {v.samples} samples: "
        f"{len(v.layers)} layers matched by name, {len(v.unmatched)} not in the file"
    ]
    for out, top1 in zip(v.outputs, v.top1_agreement, strict=False):
        agree = "" if top1 is None else f", top-1 agreement {top1:.2%}"
        lines.append(
            f"output {out.layer}: SQNR {_db(out.sqnr_db)}{'' if math.isinf(out.sqnr_db) else ' dB'}, cosine {out.cosine:.5f}, "
            f"max |err| {out.max_abs:.3g}{agree}"
        )
    shown = v.layers if top is None else v.layers[:top]
    lines.append(
        "per layer, worst first by own dB, the error the layer adds itself (the file's output against "
        "the layer's Keras computation on the file's own inputs to it; - none; ~ an estimate); SQNR dB: "
        "all the error up to the layer:"
    )
    lines.append(COLUMNS)
    for e in shown:
        shape = "x".join(str(d) for d in e.shape[1:])
        lines.append(
            f"  {_cut(e.layer, 22):22s} {_db(e.sqnr_db):>8s} {_own(e):>7s} {e.cosine:8.5f} "
            f"{e.max_abs:10.3g}  {_cut(shape, 14):14s} {_cut(e.tensor, 40)}"
        )
    if len(shown) < len(v.layers):
        lines.append(f"  ... {len(v.layers) - len(shown)} more (--top 0 shows all)")
    if v.unmatched:
        lines.append("not in the file (folded, fused or removed): " + ", ".join(v.unmatched))
    if v.suggestions:
        lines.append(
            f"float fallback, measured by compiling with keep_float (int8, target {v.suggestions[0].target}; "
            f"all int8: output SQNR {_db(v.suggestions[0].baseline_db)} dB):"
        )
        for s in v.suggestions:
            lines.append(
                f"  keep_float=[{s.layer!r}]: output SQNR {_db(s.sqnr_db)} dB ({s.gain_db:+.2f} dB), "
                f"+{s.extra_bytes:,} bytes"
            )
        best = v.suggestions[0]
        if best.gain_db > 0:  # each candidate is measured alone: a combination is the user's next try
            lines.append(f"  try: qgraph compile ... --keep-float {best.layer}  (each layer measured alone)")
    return "\n".join(lines)


def _own(e: Any) -> str:
    """The own error; "~" marks an estimate (no Keras piece could be cut out for the layer)."""
    return _db(e.own_db, "-") if e.own_measured else "~" + _db(e.own_db, "none")


def _db(value: float, infinite: str = "exact") -> str:
    return infinite if math.isinf(value) and value > 0 else f"{value:.2f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]
