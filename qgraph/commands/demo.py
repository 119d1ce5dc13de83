"""`qgraph demo`: the digits CNN trained, compiled per target and checked in LiteRT."""

from __future__ import annotations

import argparse


def add_parser(sub, loading: argparse.ArgumentParser) -> None:
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


def run(args) -> int:
    from qgraph.cli_files import prepare_demo_folder
    from qgraph.demo import run_demo

    prepare_demo_folder(args.out)
    return run_demo(epochs=args.epochs, out_dir=args.out)
