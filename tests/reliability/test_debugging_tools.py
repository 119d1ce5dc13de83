"""The debugging tools' answers to a wrong input (issue 14): `qgraph verify`, `qgraph view`,
`qgraph inspect --target` and `--keep-float` name the file, layer, pass or flag at fault, in
one `qgraph: error:` line, and write no partial output."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.catalogue import Case, check, cli
from tests.reliability.files_support import calibration_npy, dense_keras, dense_model, folder, holds, then


@functools.cache
def dense_tflite() -> Path:
    import qgraph

    path = folder() / "dense.tflite"
    path.write_bytes(qgraph.compile(dense_model(), quantize="float").tflite)
    return path


@functools.cache
def other_tflite() -> Path:
    """A file of another model (6 inputs, not 4)."""
    import keras

    import qgraph

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)], name="other")
    path = folder() / "other.tflite"
    path.write_bytes(qgraph.compile(model, quantize="float").tflite)
    return path


def verify(*args: str):
    return lambda tmp: cli("verify", *args)


def data(shape: tuple[int, ...], name: str = "x.npy"):
    """Samples of `shape` saved in the case's folder; returns the path."""

    def make(tmp: Path) -> str:
        np.save(tmp / name, np.zeros(shape, np.float32))
        return str(tmp / name)

    return make


def nan_data(tmp: Path) -> str:
    x = np.zeros((8, 4), np.float32)
    x[3, 1] = np.nan
    np.save(tmp / "x.npy", x)
    return str(tmp / "x.npy")


CASES: list[Case] = [
    Case(
        "verify-arguments-swapped",
        11,
        "`qgraph verify m.tflite m.keras --data x.npy` (the file first)",
        lambda tmp: cli("verify", str(dense_tflite()), str(dense_keras()), "--data", str(calibration_npy())),
        SystemExit,
        r"verify's reference is a Keras model or a \.keras/\.h5 file; got '.*dense\.tflite'",
    ),
    Case(
        "verify-file-of-another-model",
        11,
        "`qgraph verify m.keras other.tflite --data x.npy` (a .tflite made from another model)",
        lambda tmp: cli("verify", str(dense_keras()), str(other_tflite()), "--data", str(calibration_npy())),
        SystemExit,
        r"other\.tflite is not a file of this model: its inputs have shapes \[\(6,\)\], the model's \[\(4,\)\]",
    ),
    Case(
        "verify-data-of-wrong-shape",
        11,
        "`qgraph verify m.keras m.tflite --data x.npy` with samples of another shape",
        lambda tmp: cli("verify", str(dense_keras()), str(dense_tflite()), "--data", data((8, 5))(tmp)),
        SystemExit,
        r"verify data",
    ),
    Case(
        "verify-data-with-nan",
        11,
        "`qgraph verify m.keras m.tflite --data x.npy` with a NaN in sample 3",
        lambda tmp: cli("verify", str(dense_keras()), str(dense_tflite()), "--data", nan_data(tmp)),
        SystemExit,
        r"verify data sample 3 \(counting from 0\) of input '.*' has 1 NaN values; verify needs finite numbers",
    ),
    Case(
        "verify-data-missing",
        11,
        "`qgraph verify m.keras m.tflite --data missing.npy`",
        verify(str(dense_keras()), str(dense_tflite()), "--data", "missing.npy"),
        SystemExit,
        r"--data file 'missing\.npy' does not exist",
    ),
    Case(
        "verify-damaged-file",
        11,
        "`qgraph verify m.keras cut.tflite --data x.npy` (a truncated .tflite)",
        lambda tmp: (
            (tmp / "cut.tflite").write_bytes(dense_tflite().read_bytes()[:300])
            and cli("verify", str(dense_keras()), str(tmp / "cut.tflite"), "--data", str(calibration_npy()))
        ),
        SystemExit,
        r"cut\.tflite' is damaged or not a TFLite model",
    ),
    Case(
        "verify-calibration-without-suggest",
        11,
        "`qgraph verify ... --calibration c.npy` without `--suggest`",
        verify(
            str(dense_keras()),
            str(dense_tflite()),
            "--data",
            str(calibration_npy()),
            "--calibration",
            "c.npy",
        ),
        SystemExit,
        r"--calibration is for the compiles that --suggest makes; add --suggest N",
    ),
    Case(
        "keep-float-unknown-layer",
        11,
        "`qgraph compile m.keras -o m.tflite --calibration x.npy --keep-float dense_bn` (no such op)",
        lambda tmp: then(
            lambda t: cli(
                "compile",
                str(dense_keras()),
                "-o",
                str(t / "m.tflite"),
                "--quantize",
                "int8",
                "--calibration",
                str(calibration_npy()),
                "--keep-float",
                "dense_bn",
            ),  # fmt: skip
            lambda t: holds(not (t / "m.tflite").exists(), "an output was written"),
        )(tmp),
        SystemExit,
        r"keep_float names 'dense_bn', which no op of the graph comes from .* layers that can stay float: dense",
    ),
    Case(
        "keep-float-in-a-float-compile",
        11,
        "`qgraph compile m.keras -o m.tflite --quantize float --keep-float dense`",
        lambda tmp: cli(
            "compile",
            str(dense_keras()),
            "-o",
            str(tmp / "m.tflite"),
            "--quantize",
            "float",
            "--keep-float",
            "dense",
        ),
        SystemExit,
        r"keep_float is only used with quantize='int8'",
    ),
    Case(
        "view-unknown-pass",
        11,
        "`qgraph view m.keras -o g.html --after fold_bn`",
        lambda tmp: cli("view", str(dense_keras()), "-o", str(tmp / "g.html"), "--after", "fold_bn"),
        SystemExit,
        r"fold_bn.*fold_batchnorm",
    ),
    Case(
        "view-after-on-a-tflite",
        11,
        "`qgraph view m.tflite -o g.html --after fold_batchnorm`",
        lambda tmp: cli("view", str(dense_tflite()), "-o", str(tmp / "g.html"), "--after", "fold_batchnorm"),
        SystemExit,
        r"--after runs passes on a Keras model; a \.tflite is shown as read",
    ),
    Case(
        "view-verify-data-without-reference",
        11,
        "`qgraph view m.tflite -o g.html --verify-data x.npy` (no `--reference`)",
        lambda tmp: cli(
            "view", str(dense_tflite()), "-o", str(tmp / "g.html"), "--verify-data", str(calibration_npy())
        ),
        SystemExit,
        r"--verify-data and --reference go together",
    ),
    Case(
        "view-over-the-input",
        11,
        "`qgraph view m.keras -o m.keras` (the page over the model)",
        lambda tmp: cli("view", str(dense_keras()), "-o", str(dense_keras())),
        SystemExit,
        r"-o",
    ),
    Case(
        "inspect-unknown-target",
        11,
        "`qgraph inspect m.tflite --target tpu`",
        lambda tmp: cli("inspect", str(dense_tflite()), "--target", "tpu"),
        SystemExit,
        r"unknown target 'tpu'",
    ),
    Case(
        "inspect-dump-with-json",
        11,
        "`qgraph inspect m.tflite --dump --json` (--dump prints only the IR)",
        lambda tmp: cli("inspect", str(dense_tflite()), "--dump", "--json", "--target", "cpu"),
        SystemExit,
        r"--dump prints only the IR; it does not combine with --json, --target",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)
