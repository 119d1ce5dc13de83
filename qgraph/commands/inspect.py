"""`qgraph inspect`: a model's summary, tensors and quantization, sizes, op versions and minimum
runtime, what a target cannot run, and its weight tensors' sparsity and distinct values."""

from __future__ import annotations

import argparse


def add_parser(sub, loading: argparse.ArgumentParser) -> None:
    i = sub.add_parser(
        "inspect",
        parents=[loading],
        help="summarize a model: ops, tensors and quantization, sizes, op versions, weight sparsity",
        description="Load a model into qgraph's IR and print: ops by type, inputs and outputs; the "
        "quantization kinds and a table of activation tensors (dtype, shape, bytes, per-tensor or "
        "per-axis parameters); sizes (constant bytes by op type and layer, activation memory and an "
        "estimate of its peak); op versions and the minimum TFLite runtime (a .tflite's own, or as "
        "qgraph would write a Keras model in float); with --target, the ops that target cannot run "
        "and why; and a table of every weight tensor with its shape, dtype, sparsity (the share of "
        "exact zeros; a quantized tensor's zero point) and distinct values, in the whole tensor and "
        "at most in one output channel (pruned weights show as sparsity, clustered ones as few "
        "distinct values per channel). docs/inspect.md explains each section.",
    )
    i.add_argument(
        "input", help="a .keras or .h5 Keras model file, or a .tflite file (qgraph's or the converter's)"
    )
    i.add_argument(
        "--target",
        metavar="T",
        help="also list the ops target T (cpu, edgetpu, nnapi, ethos-u; `qgraph targets`) cannot run, "
        "with the reason",
    )
    i.add_argument(
        "--tensors", action="store_true", help="list every tensor, constants too, not only activations"
    )
    i.add_argument(
        "--dump",
        action="store_true",
        help="print the full IR, one line per op (alone: not with --json, --target, --tensors)",
    )
    i.add_argument("--json", action="store_true", help="print every section, all tensors and layers, as JSON")
    i.add_argument(
        "--optimize",
        action="store_true",
        help="run the import and optimize passes first (see the graph the serializer sees)",
    )


def run(args) -> int:
    import json

    from qgraph.cli_files import custom_objects
    from qgraph.inspection import inspect
    from qgraph.inspection_text import render

    if args.dump:
        from qgraph.errors import OptionError

        # --dump prints the IR as text and nothing else: refuse what it would silently ignore.
        ignored = [
            flag
            for flag, given in (("--json", args.json), ("--target", args.target), ("--tensors", args.tensors))
            if given
        ]
        if ignored:
            raise OptionError(f"--dump prints only the IR; it does not combine with {', '.join(ignored)}")
        from qgraph.commands.compile import load_input
        from qgraph.pipeline import PassContext, PassManager
        from qgraph.targets import get_target

        g = load_input(args)
        if args.optimize:
            PassManager.from_plugins().run(g, PassContext(get_target("cpu")), phases=("import", "optimize"))
        print(g.dump(), end="")
        return 0
    result = inspect(
        args.input,
        target=args.target,
        optimize=args.optimize,
        safe_mode=not args.unsafe_deserialization,
        custom_objects=custom_objects(args.custom_objects),
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result, all_tensors=args.tensors), end="")
    return 0
