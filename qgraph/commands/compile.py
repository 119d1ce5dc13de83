"""`qgraph compile`: a .keras/.h5 model -> .tflite for a target, with the options of its passes."""

from __future__ import annotations

import argparse


def add_parser(sub, loading: argparse.ArgumentParser) -> None:
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
        "--keep-float",
        action="append",
        default=[],
        metavar="LAYER[,LAYER]",
        help="int8: keep these layers float (DEQUANTIZE/QUANTIZE around them), e.g. the ones `qgraph verify "
        "--suggest` names; a layer is named as in Keras (`qgraph inspect` lists the ops); repeatable",
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


def run(args) -> int:
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
    if args.keep_float:
        options["keep_float"] = [
            name.strip() for item in args.keep_float for name in item.split(",") if name.strip()
        ]
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
    graph = load_input(args)
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


def load_input(args):
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
