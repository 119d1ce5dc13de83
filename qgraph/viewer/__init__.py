"""`view`: a model's IR (optionally after a pass of the pipeline) or a `.tflite` as one
self-contained HTML page, laid out by Graphviz's `dot`.

    import qgraph.viewer
    qgraph.viewer.view(model, "graph.html", after="fold_batchnorm")
    qgraph.viewer.view("model.tflite", "graph.html", errors={"stem": {"sqnr_db": 8.3}})

Modules: `labels` (text for tensors, quantization, error figures), `dot_graph` (the
Graphviz graph and its SVG), `page` (the HTML around it), `stop` (the pipeline up to a pass).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

from qgraph.errors import OptionError
from qgraph.ir import Graph


def view(
    model_or_path: Any,
    output: str | os.PathLike | None = "graph.html",
    *,
    after: str | None = None,
    target: str = "cpu",
    quantize: str | None = None,
    representative_data: Any = None,
    errors: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The HTML page showing `model_or_path` (a Keras model, a .keras/.h5/.tflite path,
    .tflite bytes or a Graph), written atomically to `output` unless it is None.

    `after`: run the passes `qgraph.compile(model, target, quantize, representative_data=...)`
    would run, up to and including the pass of that name, and show the graph it leaves (a
    Keras model or Graph only: a .tflite is shown as read). `errors`: {op output tensor name,
    op name or Keras layer name: {"sqnr_db", "cosine", "max_abs"}} colours ops by SQNR."""
    from qgraph.api import load
    from qgraph.output_files import check_output, write_atomic
    from qgraph.viewer.dot_graph import build, render_svg, require_dot
    from qgraph.viewer.page import page
    from qgraph.viewer.stop import check_pass_name, run_until

    require_dot()  # before minutes of loading and passes
    if output is not None:
        check_output(output, source=model_or_path)
    errors = _checked_errors(errors)
    if after is None:
        if (target, quantize, representative_data) != ("cpu", None, None):
            raise OptionError(
                "target, quantize and representative_data choose the passes that run before the view; "
                "they need after=PASS (the graph as loaded is the same for every target)"
            )
    elif _is_tflite(model_or_path):
        raise OptionError(
            "after= runs passes on a Keras model's IR; a .tflite is shown as it was read: drop after="
        )
    else:
        check_pass_name(after)
    graph = load(model_or_path)  # a new Graph: a Graph given is not changed by the passes
    stage = "as read from the file" if _is_tflite(model_or_path) else "the IR as loaded, before any pass"
    if after is not None:
        ctx = run_until(graph, after, target, quantize, representative_data)
        ran = [r.name for r in ctx.records if r.ran]
        assert ctx.target is not None
        stage = (
            f"the IR after pass {after} (target {ctx.target.name}, quantize {ctx.quantize}); "
            f"passes run: {', '.join(ran) or 'none'}"
        )
    nxg, details, unmatched = build(graph, errors)
    text = page(
        render_svg(nxg),
        details,
        title=f"qgraph view: {graph.name}",
        summary=_summary(graph, stage, model_or_path),
        unmatched=unmatched,
        legend=bool(errors),
        own=any("own_db" in entry for entry in (errors or {}).values()),
    )
    if output is not None:
        write_atomic(output, text.encode("utf-8"), source=model_or_path)
    return text


def _summary(graph: Graph, stage: str, given: Any) -> list[str]:
    s = graph.summary()
    source = graph.meta.get("source_file") or graph.meta.get("source")
    source = source or (".tflite bytes" if isinstance(given, bytes) else "a Graph")
    by_type = ", ".join(f"{t} {n}" for t, n in s["ops_by_type"].items())
    return [
        f"{source}: {stage}",
        f"{s['ops']} ops ({by_type}); {s['parameters']:,} parameters in {s['constants']} constants",
    ]


def _is_tflite(model_or_path: Any) -> bool:
    """.tflite bytes, a .tflite path, or a Graph read from one."""
    if isinstance(model_or_path, Graph):
        model_or_path = model_or_path.meta.get("source_file", "")
    if isinstance(model_or_path, bytes):
        return True
    return isinstance(model_or_path, str | os.PathLike) and os.fspath(model_or_path).endswith(".tflite")


def _checked_errors(errors: Any) -> dict[str, dict[str, Any]]:
    """`errors` as {name: {figure: number}}, or an `OptionError` saying what is wrong."""
    if errors is None:
        return {}
    if not isinstance(errors, Mapping):
        raise OptionError(f"errors must map op or tensor names to figures, not a {type(errors).__name__}")
    checked: dict[str, dict[str, Any]] = {}
    for name, entry in errors.items():
        if not isinstance(entry, Mapping):
            raise OptionError(
                f"errors[{name!r}] must be a dict like {{'sqnr_db': 18.2, 'cosine': 0.998, 'max_abs': 0.05}}, "
                f"not {entry!r}"
            )
        for key in ("sqnr_db", "own_db", "cosine", "max_abs"):
            value = entry.get(key)
            # numbers.Real takes numpy's scalars too; a bool is no figure
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise OptionError(f"errors[{name!r}][{key!r}] must be a number, not {value!r}")
        checked[str(name)] = dict(entry)
    return checked
