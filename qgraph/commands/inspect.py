"""`qgraph inspect`: a model's summary, its weight tensors' sparsity and distinct values."""

from __future__ import annotations

import argparse
import json
import os

from qgraph.commands.compile import load_input


def add_parser(sub, loading: argparse.ArgumentParser) -> None:
    i = sub.add_parser(
        "inspect",
        parents=[loading],
        help="summarize a model's IR (ops, tensors, parameters, sizes, weight sparsity)",
        description="Load a model into qgraph's IR and print its summary: ops by type, inputs, "
        "outputs, and a table of every weight tensor with its shape, dtype, sparsity (the share "
        "of exact zeros; a quantized tensor's zero point) and distinct values, in the whole tensor "
        "and at most in one output channel (pruned weights show as sparsity, clustered ones as "
        "few distinct values per channel), then the sparsity of all weights together.",
    )
    i.add_argument(
        "input", help="a .keras or .h5 Keras model file, or a .tflite file (qgraph's or the converter's)"
    )
    i.add_argument("--dump", action="store_true", help="print the full IR, one line per op")
    i.add_argument("--json", action="store_true", help="print the summary, weight table included, as JSON")
    i.add_argument(
        "--optimize",
        action="store_true",
        help="run the import and optimize passes first (see the graph the serializer sees)",
    )


def run(args) -> int:
    from dataclasses import asdict

    from qgraph.compress.stats import weight_stats

    g = load_input(args)
    if args.optimize:
        from qgraph.pipeline import PassContext, PassManager
        from qgraph.targets import get_target

        PassManager.from_plugins().run(g, PassContext(get_target("cpu")), phases=("import", "optimize"))
    s = g.summary()
    weights = weight_stats(g)
    if args.json:
        s["weights"] = [asdict(w) for w in weights]
        print(json.dumps(s, indent=2))
    elif args.dump:
        print(g.dump(), end="")
    else:
        print(
            f"model {s['name']}: {s['ops']} ops, {s['tensors']} tensors, {s['parameters']:,} parameters "
            f"({s['parameter_bytes'] / 1e6:.2f} MB as stored)"
        )
        print("inputs:  " + ", ".join(f"{k} {v}" for k, v in s["inputs"].items()))
        print("outputs: " + ", ".join(f"{k} {v}" for k, v in s["outputs"].items()))
        print("ops by type:")
        for t, n in s["ops_by_type"].items():
            print(f"  {t:26s} {n}")
        _print_weight_table(weights)
    return 0


def _print_weight_table(weights: list) -> None:
    """One line per weight tensor, columns cut to fit: its name (what names a weight in a
    Keras model, qgraph's file and the converter's alike, e.g. `conv/kernel`; a converter's
    `;`-joined fused name by its first part; less the prefix all share), op type, shape,
    dtype, share of zeros, distinct values in all of it and at most in one output channel
    ("-": no channel axis)."""
    size = sum(w.size for w in weights)
    zeros = sum(w.zeros for w in weights)
    print(
        f"weights: {len(weights)} tensors, {size:,} values, "
        f"{zeros / size if size else 0.0:.1%} zero (sparsity of all weights)"
    )
    if not weights:
        return
    names = [w.tensor.split(";")[0] for w in weights]
    prefix = os.path.commonprefix(names)
    prefix = prefix[: prefix.rfind("/") + 1]
    print(
        f"  {'weight tensor' + (' in ' + prefix if prefix else ''):40s} {'op type':17s} {'shape':14s} "
        f"{'dtype':7s} {'sparsity':>8s} {'distinct':>9s} {'max/chan':>8s}"
    )
    for w, name in zip(weights, names, strict=True):
        shape = "x".join(map(str, w.shape))
        per_channel = "-" if w.channel_axis is None else f"{w.distinct_per_channel:,}"
        print(
            f"  {_cut(name[len(prefix) :], 40):40s} {_cut(w.op_type, 17):17s} {_cut(shape, 14):14s} "
            f"{w.dtype:7s} {w.sparsity:8.1%} {w.distinct:9,} {per_channel:>8s}"
        )


def _cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, keeping its end (the specific part of a name)."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]
