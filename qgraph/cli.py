"""The `qgraph` command: a thin shell over `qgraph.api`. Run `qgraph COMMAND --help`."""

from __future__ import annotations

import argparse
import json
import os
import sys

EPILOG = """examples:
  qgraph demo                                   train a digits CNN, compile it per target, verify in LiteRT
  qgraph inspect model.keras                    ops by type, tensors, parameters, sizes, and per
                                                weight tensor its sparsity and distinct values
  qgraph inspect model.tflite                   the same for any .tflite (qgraph's or the converter's)
  qgraph inspect model.keras --dump             the whole IR, one line per op
  qgraph compile model.keras -o model.tflite    float TFLite for the CPU
  qgraph compile model.keras -o m.tflite --quantize int8 --calibration samples.npy
                                                full-integer int8 (float I/O on cpu)
  qgraph compile model.keras -o m.tflite --target edgetpu --calibration samples.npy
  qgraph compile model.keras -o m.tflite --quantize dynamic --option min_elements=256
                                                any option a pass or the target declares
  qgraph compile model.keras -o m.tflite --target nnapi --api-level 28 --calibration samples.npy
  qgraph compile lambda.keras -o m.tflite --unsafe-deserialization
                                                a file you trust whose Lambda layers hold Python code
  qgraph compile custom.keras -o m.tflite --custom-objects my_layers.py:MyLayer
                                                a custom layer (or a module that registers it)
  qgraph passes                                 the pass pipeline in run order, with each pass's options
  qgraph targets                                what each target accepts, with its options
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qgraph",
        description="Compile Keras models to TFLite for cpu, edgetpu and "
        "nnapi through an inspectable graph IR and ordered passes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"qgraph {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    loading = _loading_flags()

    c = sub.add_parser(
        "compile",
        parents=[loading],
        help="compile a .keras/.h5 model to .tflite",
        description="Lower the model to the IR, run the target's passes and write TFLite. "
        "The output is written atomically: on any error no file is left behind.",
    )
    c.add_argument("input", help="a .keras or .h5 Keras model file")
    c.add_argument(
        "-o",
        "--output",
        required=True,
        help="the .tflite file to write (a symlink is written through; a folder, device, FIFO or the "
        "input model itself is refused); a new file gets the umask's mode, a replaced one keeps its mode",
    )
    c.add_argument(
        "--target",
        default="cpu",
        help="cpu (default), edgetpu, nnapi or ethos-u; see `qgraph targets` for each one's options",
    )
    c.add_argument(
        "--quantize",
        default=None,
        choices=("float", "dynamic", "float16", "int8"),
        help="float: float32; dynamic: int8 weights, float activations (no data); float16: float16 "
        "weights; int8: full integer (needs --calibration). Default: the target's (cpu float, edgetpu int8)",
    )
    c.add_argument(
        "--calibration",
        metavar="DATA",
        help="representative samples for --quantize int8: a .npy array (N, *input_shape) for a "
        "one-input model, or a .npz with one array per input, keyed by input name (see `qgraph "
        "inspect`) or arr_0, arr_1, ... in input order. About 100 typical samples suffice",
    )
    c.add_argument(
        "--calibration-method",
        choices=("minmax", "percentile"),
        default=None,  # None, not "minmax": a flag given with --quantize float must be refused
        help="minmax (default, as TFLiteConverter) or percentile (clips the 0.01%% tails)",
    )
    c.add_argument(
        "--io-dtype",
        choices=("float", "int8", "uint8"),
        default=None,
        help="int8 models: type of the model's inputs/outputs (default: float on cpu/nnapi, int8 on "
        "edgetpu); the report prints their scale and zero point",
    )
    c.add_argument(
        "--per-channel-dense",
        action="store_true",
        help="int8: per-channel FULLY_CONNECTED weights (default per-tensor, as the int8 spec)",
    )
    c.add_argument(
        "--sparse",
        action="store_true",
        help="cpu: store weights with >= 30%% zeros in TFLite's sparse format; int8 dense layers need "
        "their zeros in 1x16 blocks, from qgraph.prune(model, block=(1, 16))",
    )
    c.add_argument(
        "--vela",
        action="store_true",
        help="ethos-u: also write Arm Vela's optimized file next to the output (NAME_vela.tflite); "
        "Vela's verdict and figures (NPU/CPU ops, SRAM, Flash, cycles) are printed whenever Vela is "
        "installed (pip install ethos-u-vela). Other NPUs: --option accelerator_config=ethos-u65-256",
    )
    c.add_argument(
        "--api-level",
        type=int,
        metavar="N",
        help="nnapi: the Android API level of the devices (27-36, default 30); below 29 weights are per "
        "tensor (the target's api_level option)",
    )
    c.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an option that a pass or the target declares and that has no flag of its own "
        "(`qgraph passes` and `qgraph targets` list them), e.g. --option min_elements=256 or "
        "--option api_level=28; repeatable. VALUE is read as the option's declared type: int, float, "
        "str, or bool (true/false). An option of a pass that does not run for this target and "
        "quantize mode is an error",
    )
    c.add_argument("--report", action="store_true", help="print what every pass did")

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

    sub.add_parser(
        "passes",
        help="list the pass pipeline in run order, with phases, plugins and options",
        description="Passes from every registered plugin, in the order the PassManager runs them; "
        "under each, when it runs (quantize modes, targets) if not always, and the options it "
        "declares as `name: type = default  help` (set them with `qgraph compile --option`).",
    )
    sub.add_parser(
        "targets",
        help="list targets, what each accepts and its options",
        description="Targets from every registered plugin with their quantize modes, op tables and "
        "options (set them with `qgraph compile --option`).",
    )
    d = sub.add_parser(
        "demo",
        help="train a digits CNN, compile it for every target, verify in LiteRT",
        description="Trains a small CNN (BN, ReLU6, depthwise conv, concat) on scikit-learn's bundled "
        "digits, shows its IR and the pass log, compiles it per target and checks each file in LiteRT.",
    )
    d.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    d.add_argument(
        "--out", default="qgraph-demo", help="folder for the .tflite files (default ./qgraph-demo)"
    )
    return p


def _loading_flags() -> argparse.ArgumentParser:
    """Flags for loading a .keras/.h5 file, shared by `compile` and `inspect`."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("loading a .keras/.h5 file")
    g.add_argument(
        "--unsafe-deserialization",
        action="store_true",
        help="trust the model file: let Keras run the Python code stored in it (Lambda layers; Keras' "
        "safe_mode=False). Only for files you trust",
    )
    g.add_argument(
        "--custom-objects",
        action="append",
        default=[],
        metavar="MODULE[:NAME]",
        help="import MODULE (or FILE.py) first, for custom layers it registers with "
        "keras.saving.register_keras_serializable; with :NAME also pass that class, function or dict "
        "of them to Keras as custom_objects; repeatable",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    from qgraph.errors import QGraphError

    try:
        return int(COMMANDS[args.command](args) or 0)
    except (QGraphError, FileNotFoundError) as e:
        print(f"qgraph: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the system would not read or write (permissions, a full disk)
        if e.filename is None:  # not about a file: a bug, shown with its traceback
            raise
        print(f"qgraph: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2


def _compile(args) -> int:
    import time

    import qgraph
    from qgraph.cli_files import check_compile_output
    from qgraph.errors import OptionError
    from qgraph.quant.data import load_calibration_file

    check_compile_output(args.output, args.input, args.vela)
    options: dict = {}
    if args.calibration:
        if args.quantize not in ("int8", None):
            raise OptionError("--calibration is only used with --quantize int8")
        options["representative_data"] = load_calibration_file(args.calibration)
    int8_only = {
        "io_dtype": args.io_dtype,
        "per_channel_dense": args.per_channel_dense or None,
        "calibration_method": args.calibration_method,
    }
    options.update({k: v for k, v in int8_only.items() if v is not None})
    if args.sparse:
        options["sparse"] = True
    if args.vela:
        if args.target != "ethos-u":
            raise OptionError(f"--vela is for --target ethos-u (got --target {args.target})")
        options["vela"] = True
    if args.api_level is not None:
        if args.target != "nnapi":
            raise OptionError(f"--api-level is for --target nnapi (got --target {args.target})")
        options["api_level"] = args.api_level
    for name, value in _parse_options(args.option, args.target).items():
        if name in options:
            raise OptionError(f"--option {name} repeats an option already given by its own flag")
        options[name] = value
    start = time.perf_counter()
    graph = _load(args)
    loaded = time.perf_counter() - start
    result = qgraph.compile(graph, target=args.target, quantize=args.quantize, output=args.output, **options)
    result.report.seconds["load"] = loaded
    if args.report:
        print(result.report)
    s = result.graph.summary()
    print(
        f"wrote {args.output}: {len(result.tflite):,} bytes, {s['ops']} ops "
        f"({', '.join(f'{k} {v}' for k, v in s['ops_by_type'].items())}), target {args.target}, "
        f"{result.report.quantize}"
    )
    if not args.report:  # the report has them already
        for line in result.report.placement:
            print(f"  {line}")
    for path in result.extra_paths.values():
        print(f"wrote {path}")
    return 0


def _load(args):
    """The input file's Graph, with the loading flags."""
    import qgraph
    from qgraph.cli_files import custom_objects

    objects = custom_objects(args.custom_objects)
    return qgraph.load(args.input, safe_mode=not args.unsafe_deserialization, custom_objects=objects)


def _parse_options(items: list[str], target: str) -> dict:
    """`--option NAME=VALUE` items -> {name: value}, each VALUE read as the type its pass or
    the target declares (a name nobody declares is passed on, and `compile` names it)."""
    from qgraph.errors import OptionError
    from qgraph.pipeline import PassManager
    from qgraph.targets import get_target

    if not items:
        return {}
    declared = PassManager.from_plugins().option_declarations(get_target(target))
    values: dict = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise OptionError(f"--option takes NAME=VALUE, e.g. --option min_elements=256 (got {item!r})")
        if name in values:
            raise OptionError(f"--option {name} is given twice")
        values[name] = declared[name].parse(text) if name in declared else text
    return values


def _inspect(args) -> int:
    from dataclasses import asdict

    from qgraph.compress.stats import weight_stats

    g = _load(args)
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


def _passes(args) -> int:
    from qgraph.compiler import MODE_NAMES, describe_options
    from qgraph.pipeline import PassManager

    print(f"{'#':>3}  {'phase':9s} {'pass':22s} {'from':22s} rewrite")
    for k, item in enumerate(PassManager.from_plugins().plan, 1):
        p = item.pass_
        print(f"{k:3d}  {p.phase:9s} {p.name:22s} {item.source:22s} {p.doc}")
        when = []
        if p.modes is not None:
            when.append(", ".join(MODE_NAMES.get(m, f"quantize {m}") for m in p.modes))
        if p.targets is not None:
            when.append("target " + ", ".join(p.targets))
        indent = " " * 16
        if when:
            print(f"{indent}runs for: {'; '.join(when)}")
        for line in describe_options(p.options):
            print(f"{indent}option {line}")
    return 0


def _targets(args) -> int:
    from qgraph.compiler import describe_options
    from qgraph.targets import all_targets

    for t in all_targets().values():
        print(f"{t.name}: {t.description}")
        print(
            f"  quantize: {', '.join(t.quantize_modes)} (default {t.default_quantize}); "
            f"I/O: {', '.join(t.io_dtypes)}; per-axis weights: {'yes' if t.per_axis_weights else 'no'}"
        )
        for line in describe_options(t.options):
            print(f"  option {line}")
        ops = t.op_types()
        print(f"  ops ({len(ops)}): {', '.join(sorted(ops))}")
    return 0


def _demo(args) -> int:
    from qgraph.cli_files import prepare_demo_folder
    from qgraph.demo import run_demo

    prepare_demo_folder(args.out)
    return run_demo(epochs=args.epochs, out_dir=args.out)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qgraph")
    except PackageNotFoundError:
        return "unknown"


COMMANDS = {"compile": _compile, "inspect": _inspect, "passes": _passes, "targets": _targets, "demo": _demo}

if __name__ == "__main__":
    sys.exit(main())
