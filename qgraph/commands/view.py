"""`qgraph view`: a model's IR (optionally after a pass) or a .tflite as a self-contained HTML page."""

from __future__ import annotations

import argparse


def add_parser(sub, loading: argparse.ArgumentParser) -> None:
    v = sub.add_parser(
        "view",
        parents=[loading],
        help="draw a model's graph as an HTML page (ops, shapes, dtypes, quantization)",
        description="Write one self-contained HTML page (no network needed) that draws the model's graph, "
        "laid out top to bottom by Graphviz's dot: each op with its type, name, output shape, dtype and "
        "quantization, its constants (weights) as lines inside it; hover or click an op for all its "
        "tensors. Needs Graphviz (apt-get install graphviz, brew install graphviz or conda install "
        "graphviz) and pydot (pip install pydot).",
    )
    v.add_argument("input", help="a .keras or .h5 Keras model file, or a .tflite file (shown as read)")
    v.add_argument("-o", "--output", default="graph.html", help="the HTML file to write (default graph.html)")
    v.add_argument(
        "--after",
        metavar="PASS",
        help="Keras models: run the compile pipeline up to and including PASS (`qgraph passes` lists "
        "them) and show the graph it leaves, e.g. --after fold_batchnorm",
    )
    v.add_argument("--target", default=None, help="with --after: the target whose passes run (default cpu)")
    v.add_argument(
        "--quantize",
        default=None,
        choices=("float", "dynamic", "float16", "int8"),
        help="with --after: the quantize mode whose passes run (default: the target's)",
    )
    v.add_argument(
        "--calibration",
        metavar="DATA",
        help="with --after and --quantize int8: representative samples (.npy or .npz, as for `qgraph "
        "compile`), for the passes from calibrate on",
    )
    v.add_argument(
        "--errors",
        metavar="FILE.json",
        help='per-op error figures to colour the ops by: {"name": {"sqnr_db": 18.2, "cosine": 0.998, '
        '"max_abs": 0.05}, ...}, keyed by op output tensor, op name or Keras layer name; '
        "red below 10 dB SQNR, orange below 20, green above; or the JSON `qgraph verify --json` prints",
    )
    v.add_argument(
        "--verify-data",
        metavar="SAMPLES",
        help="a .tflite input: run `qgraph verify` on these samples (.npy/.npz) against --reference and "
        "colour each op by the error it adds itself (its own SQNR)",
    )
    v.add_argument(
        "--reference", metavar="MODEL", help="with --verify-data: the Keras model the .tflite was made from"
    )


def run(args) -> int:
    from qgraph.commands.compile import load_input
    from qgraph.errors import OptionError
    from qgraph.output_files import check_output
    from qgraph.viewer import view
    from qgraph.viewer.dot_graph import require_dot

    require_dot()  # before the model loads
    check_output(args.output, source=args.input, what="-o")
    if args.after is None:
        given = [f for f, v in (("--target", args.target), ("--quantize", args.quantize),
                                ("--calibration", args.calibration)) if v is not None]  # fmt: skip
        if given:
            raise OptionError(
                f"{', '.join(given)} choose{'s' if len(given) == 1 else ''} the passes run before "
                "--after PASS; without --after the graph is shown as loaded"
            )
    elif args.input.endswith(".tflite"):
        raise OptionError("--after runs passes on a Keras model; a .tflite is shown as read: drop --after")
    else:
        from qgraph.viewer.stop import check_pass_name

        check_pass_name(args.after, "--after ")
    data = None
    if args.calibration:
        if args.quantize not in ("int8", None):
            raise OptionError("--calibration is only used with --quantize int8")
        from qgraph.quant.data import load_calibration_file

        data = load_calibration_file(args.calibration)
    errors = load_errors(args.errors) if args.errors else None
    if args.verify_data or args.reference:
        errors = _verify_errors(args, errors)
    graph = load_input(args)
    view(
        graph,
        args.output,
        after=args.after,
        target=args.target or "cpu",
        quantize=args.quantize,
        representative_data=data,
        errors=errors,
    )
    print(f"wrote {args.output}; open it in a web browser")
    return 0


def _verify_errors(args, errors: dict | None) -> dict:
    """`--verify-data` with `--reference`: qgraph.verify's per-tensor figures for the .tflite."""
    from qgraph.debugging import verify
    from qgraph.errors import OptionError
    from qgraph.quant.data import load_calibration_file

    if not (args.verify_data and args.reference):
        raise OptionError("--verify-data and --reference go together: the samples and the Keras model")
    if not args.input.endswith(".tflite") or args.after:
        raise OptionError("--verify-data colours a .tflite's ops: give the .tflite as input, without --after")
    if errors is not None:
        raise OptionError("--errors and --verify-data both give the figures: choose one")
    data = load_calibration_file(args.verify_data, "--verify-data file")
    return verify(args.reference, args.input, data).node_errors()


def load_errors(path: str) -> dict:
    """The `--errors` JSON file as a dict, or an `OptionError` naming the file and the problem."""
    import json

    from qgraph.errors import OptionError
    from qgraph.input_files import check_input_file

    check_input_file(path, "errors file")
    try:
        with open(path, encoding="utf-8") as f:
            errors = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OptionError(f"--errors {path!r} is not JSON: {e}") from e
    if isinstance(errors, dict) and isinstance(errors.get("layers"), list):  # `qgraph verify --json`
        errors = {
            e.get("op_tensor") or e["tensor"]: {
                k: e.get(k) for k in ("sqnr_db", "own_db", "cosine", "max_abs")
            }
            for e in errors["layers"]
            if isinstance(e, dict) and "tensor" in e
        }
    if not isinstance(errors, dict):
        raise OptionError(
            f'--errors {path!r} must hold a JSON object {{"name": {{"sqnr_db": ...}}}}, '
            f"not a {type(errors).__name__}"
        )
    return errors
