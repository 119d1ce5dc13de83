"""The `qgraph` command: a thin shell over `qgraph.api`. Run `qgraph COMMAND --help`."""

from __future__ import annotations

import argparse
import os
import sys

EPILOG = """examples:
  qgraph demo                                   train a digits CNN, compile it per target, verify in LiteRT
  qgraph inspect model.keras                    ops by type, tensors, parameters, sizes, and per
                                                weight tensor its sparsity and distinct values
  qgraph inspect model.tflite                   the same for any .tflite (qgraph's or the converter's), with
                                                tensors' quantization, sizes, op versions, minimum runtime
  qgraph inspect model.tflite --target edgetpu  which ops edgetpu cannot run, and why
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
  qgraph verify model.keras m.tflite --data x.npy --suggest 3
                                                per-layer error against Keras, worst first, and the
                                                layers whose float fallback recovers the most
  qgraph compile model.keras -o m.tflite --quantize int8 --calibration x.npy --keep-float head_conv
  qgraph view model.keras -o graph.html --after fold_batchnorm
                                                the graph as an HTML page (needs Graphviz's dot)
  qgraph view m.tflite -o graph.html --verify-data x.npy --reference model.keras
                                                ... coloured by each op's own error
  qgraph passes                                 the pass pipeline in run order, with each pass's options
  qgraph targets                                what each target accepts, with its options

TensorFlow's and LiteRT's own log lines are hidden; --verbose (on any command) shows them.
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

    from qgraph.commands import compile, demo, inspect, listing, verify, view

    for module in (compile, inspect, verify, view, listing, demo):
        (module.add_parsers if module is listing else module.add_parser)(sub, loading)
    p.allow_abbrev = False
    for command in sub.choices.values():
        command.allow_abbrev = False  # `--verb` must not pass for --verbose: entry() looks for the flag
        command.add_argument(
            "--verbose",
            action="store_true",
            help="also show TensorFlow's and LiteRT's own log lines (start-up, delegates), hidden by default",
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


def entry() -> None:
    """The `qgraph` program: `main`, with TensorFlow's and LiteRT's log lines kept off the
    terminal (`qgraph.quiet_stderr`) unless `--verbose` is given."""
    from contextlib import nullcontext

    from qgraph.quiet_stderr import quiet_stderr

    argv = sys.argv[1:]
    try:
        with nullcontext() if "--verbose" in argv else quiet_stderr():
            code = main(argv)
    except BrokenPipeError:  # `qgraph passes | head`: the reader has gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not getattr(args, "verbose", False):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.command is None:
        _parser().print_help()
        return 0
    from qgraph.errors import QGraphError

    try:
        return int(_command(args.command)(args) or 0)
    except (QGraphError, FileNotFoundError) as e:
        print(f"qgraph: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the system would not read or write (permissions, a full disk)
        if e.filename is None:  # not about a file: a bug, shown with its traceback
            raise
        print(f"qgraph: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2


def _command(name: str):
    import importlib

    module, function = COMMANDS[name].split(":")
    return getattr(importlib.import_module(f"qgraph.commands.{module}"), function)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qgraph")
    except PackageNotFoundError:
        return "unknown"


#: command -> "module:function" in `qgraph.commands`, imported only when that command runs.
COMMANDS = {
    "compile": "compile:run",
    "inspect": "inspect:run",
    "verify": "verify:run",
    "view": "view:run",
    "passes": "listing:run_passes",
    "targets": "listing:run_targets",
    "demo": "demo:run",
}


if __name__ == "__main__":
    entry()
