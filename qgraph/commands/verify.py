"""`qgraph verify`: per-layer error of a .tflite against its Keras model, worst first."""

from __future__ import annotations

import argparse


def add_parser(sub, loading: argparse.ArgumentParser) -> None:
    v = sub.add_parser(
        "verify",
        parents=[loading],
        help="per-layer error of a .tflite against its Keras model (which layer loses accuracy)",
        description=_wrap(
            "Run the Keras model and the .tflite (qgraph's or TFLiteConverter's) on the same "
            "samples, in one pass, and print for every layer whose output the file holds (matched by name) "
            "its SQNR, cosine similarity and max absolute error, worst first, plus the model outputs'. "
            "'own dB' ranks the layers: the noise a layer adds itself, so one bad layer comes first and the "
            "layers that only carry its error do not. --suggest N compiles the model to int8 again with "
            "each likely culprit kept float and names the N that recover the most output SQNR."
        ),
        epilog="example:\n  qgraph verify digits.keras digits_int8.tflite --data test.npy --suggest 3\n"
        "  qgraph compile digits.keras -o better.tflite --quantize int8 --calibration calib.npy --keep-float stem_relu6",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("model", help="the Keras model (.keras or .h5) the file was made from")
    v.add_argument("tflite", help="the .tflite file to check (qgraph's or the converter's)")
    v.add_argument(
        "--data",
        required=True,
        metavar="SAMPLES",
        help="samples to run: a .npy (N, *input_shape) or a .npz with one array per input; held-out "
        "data the model was not calibrated on shows the error users will see",
    )
    v.add_argument(
        "--suggest",
        type=int,
        default=0,
        metavar="N",
        help="also compile the model to int8 with each of the worst layers kept float and name the N that "
        "recover the most (uses --target and --calibration)",
    )
    v.add_argument("--target", default="cpu", help="target of the compiles --suggest makes (default cpu)")
    v.add_argument(
        "--calibration",
        metavar="DATA",
        help="calibration samples for the compiles --suggest makes (default: --data)",
    )
    v.add_argument(
        "--top",
        type=int,
        default=20,
        help="layers to print, worst first (default 20; 0: all; --json has all)",
    )
    v.add_argument("--json", action="store_true", help="print the whole result as JSON")


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 100)


def run(args) -> int:
    import json

    from qgraph.cli_files import custom_objects
    from qgraph.debugging import verify
    from qgraph.debugging.report import render
    from qgraph.errors import OptionError
    from qgraph.quant.data import load_calibration_file

    if args.suggest < 0 or args.top < 0:
        raise OptionError("--suggest and --top take a count of layers (0 or more)")
    if args.calibration and not args.suggest:
        raise OptionError("--calibration is for the compiles that --suggest makes; add --suggest N")
    result = verify(
        args.model,
        args.tflite,
        load_calibration_file(args.data, "--data file"),
        suggest=args.suggest,
        target=args.target,
        representative_data=load_calibration_file(args.calibration) if args.calibration else None,
        safe_mode=not args.unsafe_deserialization,
        custom_objects=custom_objects(args.custom_objects),
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result, top=args.top or None))
    return 0
