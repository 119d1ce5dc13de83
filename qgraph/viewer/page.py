"""The self-contained HTML page: header, the SVG `dot` drew, and a details panel.

Everything is inline (CSS, JS, the node details as JSON), so the page works offline and can
be mailed or attached as one file. Hovering an op shows its tensors in the panel, clicking
pins it (click the background or press Escape to unpin); `page.html#stem` opens with the op
named `stem` (or node id `op3`) pinned.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from qgraph.viewer.assets import CSS, JS
from qgraph.viewer.labels import COLOURS, SQNR_ORANGE, SQNR_RED


def page(
    svg: str,
    details: dict[str, dict[str, Any]],
    *,
    title: str,
    summary: list[str],
    unmatched: Sequence[str] = (),
    legend: bool = False,
    own: bool = False,
) -> str:
    """The HTML page around `svg` (from `dot_graph.render_svg`) and `details` (by node id);
    `legend`: the colour key, of the error each op adds itself when `own` (verify's figures)."""
    lines = [f"<p>{html.escape(s)}</p>" for s in summary]
    if legend:
        lines.append(
            '<p class="legend">'
            + ("own SQNR, the error the op adds itself: " if own else "SQNR vs reference: ")
            + _swatch("red", f"&lt; {SQNR_RED:g} dB")
            + _swatch("orange", f"&lt; {SQNR_ORANGE:g} dB")
            + _swatch("green", f"&ge; {SQNR_ORANGE:g} dB")
            + "</p>"
        )
    if unmatched:
        lines.append(f"<p>error entries that name no op: {html.escape(', '.join(unmatched))}</p>")
    # A "<" in a name could end the script element early ("</script>", "<!--"): JSON spells it \u003c.
    data = json.dumps(_plain(details), allow_nan=False).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1>
{chr(10).join(lines)}
</header>
<main>
<div id="graph">
{svg}
</div>
<aside id="details"><p class="hint">Hover an op to see its tensors (inputs, constants, outputs) with
dtype, shape and quantization; click to pin it, Escape to unpin.</p></aside>
</main>
<script type="application/json" id="qgraph-data">{data}</script>
<script>{JS}</script>
</body>
</html>
"""


def _swatch(name: str, text: str) -> str:
    fill, border = COLOURS[name]
    return f'<span style="background:{fill};border-color:{border}">{text}</span>'


def _plain(x: Any) -> Any:
    """`x` with what JSON.parse refuses made text: NaN and infinities (an exact match's SQNR),
    and numpy scalars made Python numbers."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):  # a numpy scalar
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x
