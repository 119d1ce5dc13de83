"""Loading Keras files by path: tf-keras files through tf-keras (not Keras 3, whose layers
compute differently), damaged files named as such, and files that need trust (Lambda) or
custom objects, through the API and the CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import qgraph
from qgraph.demo import run_tflite
from qgraph.errors import ModelFileError, OptionError, QGraphError
from qgraph.testing import assert_informative
from tests.reliability.catalogue import Case, check, cli
from tests.reliability.files_support import (
    custom_keras,
    custom_layer_file,
    dense_keras,
    dense_model,
    doubler_class,
    keras3_hard_sigmoid_h5,
    lambda_keras,
    samples,
    tf_keras_hard_sigmoid,
)


def matches(x: np.ndarray, reference: np.ndarray, tol: float = 1e-5):
    """A check: the compiled file in LiteRT gives `reference` on `x` within `tol`."""

    def check_output(result, tmp: Path) -> None:
        tflite = result.tflite if hasattr(result, "tflite") else (tmp / "m.tflite").read_bytes()
        assert_informative(reference)
        err = float(np.abs(run_tflite(tflite, x) - reference).max())
        assert err < tol, f"LiteRT differs from the Keras model by {err:.2g}"

    return check_output


def doubles(result, tmp: Path) -> None:
    x = samples(4)
    matches(x, 2.0 * x)(result, tmp)


def cut(source, fraction: float = 0.5):
    """A copy of the file `source()` cut to `fraction` of its bytes, in tmp_path."""

    def make(tmp: Path) -> Path:
        data = Path(source()).read_bytes()
        path = tmp / f"cut{Path(source()).suffix}"
        path.write_bytes(data[: int(len(data) * fraction)])
        return path

    return make


def without_tf_keras(tmp: Path):
    path = tf_keras_hard_sigmoid()[0]  # saved with tf-keras, which then "is not installed"
    with mock.patch.dict(sys.modules, {"tf_keras": None}):
        return qgraph.load(path)


def keras_named_h5(tmp: Path):
    shutil.copy(tf_keras_hard_sigmoid()[0], tmp / "model.keras")
    return qgraph.load(tmp / "model.keras")


CASES: list[Case] = [
    # item 5: tf-keras files
    Case(
        "file-tf-keras-h5",
        5,
        "compile('tf_keras_model.h5') of a tf-keras model with hard_sigmoid",
        lambda tmp: qgraph.compile(tf_keras_hard_sigmoid()[0]),
        check=lambda r, tmp: matches(*tf_keras_hard_sigmoid()[2:])(r, tmp),
        says="loaded with tf-keras (its keras_version 2.x): LiteRT matches the tf-keras model to 1e-5",
    ),
    Case(
        "file-tf-keras-zip",
        5,
        "compile('tf_keras_model.keras') saved by tf-keras",
        lambda tmp: qgraph.compile(tf_keras_hard_sigmoid()[1]),
        check=lambda r, tmp: matches(*tf_keras_hard_sigmoid()[2:])(r, tmp),
        says="loaded with tf-keras (metadata.json says keras 2.x): LiteRT matches to 1e-5",
    ),
    Case(
        "cli-tf-keras-h5",
        5,
        "`qgraph compile tf_keras_model.h5 -o m.tflite`",
        lambda tmp: cli("compile", str(tf_keras_hard_sigmoid()[0]), "-o", str(tmp / "m.tflite")),
        match="wrote",
        check=lambda r, tmp: matches(*tf_keras_hard_sigmoid()[2:])(r, tmp),
        says="loaded with tf-keras: LiteRT matches the tf-keras model to 1e-5",
    ),
    Case(
        "file-keras3-h5",
        5,
        "compile('keras3_model.h5') saved by Keras 3 as legacy .h5",
        lambda tmp: qgraph.compile(keras3_hard_sigmoid_h5()[0]),
        check=lambda r, tmp: matches(*keras3_hard_sigmoid_h5()[1:])(r, tmp),
        says="stays with Keras 3 (its keras_version 3.x): LiteRT matches the Keras 3 model",
    ),
    Case(
        "file-tf-keras-not-installed",
        5,
        "load('tf_keras_model.h5') without tf-keras installed",
        without_tf_keras,
        QGraphError,
        r"saved by tf-keras \(Keras 2\.\d+.*pip install tf-keras",
        says="QGraphError: 'tf_keras_hard_sigmoid.h5' was saved by tf-keras (Keras 2.21.0); Keras 3 computes some of its layers differently (e.g. hard_sigmoid), so qgraph loads such files with tf-keras: pip install tf-keras",
    ),
    # item 10 (and 6): damaged files, trust, custom objects
    Case(
        "file-keras-truncated",
        10,
        "load('model.keras') of a .keras file cut in half",
        lambda tmp: qgraph.load(cut(dense_keras)(tmp)),
        ModelFileError,
        r"'.*cut\.keras' is damaged: not a valid \.keras \(zip\) file",
        says="ModelFileError: 'cut.keras' is damaged: not a valid .keras (zip) file (File is not a zip file)",
    ),
    Case(
        "cli-keras-truncated",
        10,
        "`qgraph compile cut.keras -o m.tflite` (a .keras cut in half)",
        lambda tmp: cli("compile", str(cut(dense_keras)(tmp)), "-o", str(tmp / "m.tflite")),
        SystemExit,
        r"cut\.keras' is damaged: not a valid \.keras \(zip\) file",
        says="exit 2, one line: qgraph: error: 'cut.keras' is damaged: not a valid .keras (zip) file (File is not a zip file)",
    ),
    Case(
        "file-h5-truncated",
        10,
        "load('model.h5') of an .h5 file cut in half",
        lambda tmp: qgraph.load(cut(lambda: tf_keras_hard_sigmoid()[0])(tmp)),
        ModelFileError,
        r"'.*cut\.h5' is damaged: not a valid HDF5 file",
        says="ModelFileError: 'cut.h5' is damaged: not a valid HDF5 file (Unable to synchronously open file (truncated file: ...))",
    ),
    Case(
        "file-h5-named-keras",
        10,
        "load('model.keras') of a file that is really .h5",
        keras_named_h5,
        ModelFileError,
        r"model\.keras' is an HDF5 file, not a \.keras zip: rename it to \.h5",
        says="ModelFileError: 'model.keras' is an HDF5 file, not a .keras zip: rename it to .h5",
    ),
    Case(
        "file-lambda-safe-mode",
        10,
        "load('lambda.keras') of a model with a Python lambda",
        lambda tmp: qgraph.load(lambda_keras()),
        OptionError,
        r"lambda\.keras' has a Lambda layer.*--unsafe-deserialization.*safe_mode=False",
        says="OptionError: 'lambda.keras' has a Lambda layer with Python code: Keras runs a Lambda's Python code only from a file you trust; if you do, pass --unsafe-deserialization (API: qgraph.load(path, safe_mode=False))",
    ),
    Case(
        "file-lambda-unsafe",
        10,
        "compile(load('lambda.keras', safe_mode=False))",
        lambda tmp: qgraph.compile(qgraph.load(lambda_keras(), safe_mode=False)),
        check=doubles,
        says="loads (the user trusts the file): LiteRT computes the lambda",
    ),
    Case(
        "cli-lambda-needs-flag",
        10,
        "`qgraph compile lambda.keras -o m.tflite`",
        lambda tmp: cli("compile", str(lambda_keras()), "-o", str(tmp / "m.tflite")),
        SystemExit,
        r"lambda\.keras' has a Lambda layer.*--unsafe-deserialization",
        says="exit 2, one line: qgraph: error: 'lambda.keras' has a Lambda layer with Python code: Keras runs a Lambda's Python code only from a file you trust; if you do, pass --unsafe-deserialization (API: qgraph.load(path, safe_mode=False))",
    ),
    Case(
        "cli-lambda-unsafe",
        10,
        "`qgraph compile lambda.keras -o m.tflite --unsafe-deserialization`",
        lambda tmp: cli(
            "compile", str(lambda_keras()), "-o", str(tmp / "m.tflite"), "--unsafe-deserialization"
        ),
        match="wrote",
        check=doubles,
        says="compiles: the flag is Keras' safe_mode=False",
    ),
    Case(
        "cli-custom-layer-unknown",
        10,
        "`qgraph compile custom.keras -o m.tflite` (an unregistered custom layer)",
        lambda tmp: cli("compile", str(custom_keras()), "-o", str(tmp / "m.tflite")),
        SystemExit,
        r"custom\.keras' uses 'Doubler'.*--custom-objects qgraph_test_custom_layers:Doubler",
        says="exit 2, one line: qgraph: error: 'custom.keras' uses 'Doubler', which Keras does not know (a custom layer or function): pass the code that defines it with --custom-objects layers:Doubler (a module or .py file; API: qgraph.load(path, custom_objects={'Doubler': Doubler}))",
    ),
    Case(
        "cli-custom-objects",
        10,
        "`qgraph compile custom.keras -o m.tflite --custom-objects layers.py:Doubler`",
        lambda tmp: cli(
            "compile",
            str(custom_keras()),
            "-o",
            str(tmp / "m.tflite"),
            "--custom-objects",
            f"{custom_layer_file()}:Doubler",
        ),
        match="wrote",
        check=doubles,
        says="compiles: the file is imported and Doubler passed to Keras",
    ),
    Case(
        "cli-custom-objects-no-module",
        10,
        "`--custom-objects no_such_module`",
        lambda tmp: cli(
            "compile", str(custom_keras()), "-o", str(tmp / "m.tflite"), "--custom-objects", "no_such_module"
        ),
        SystemExit,
        r"--custom-objects no_such_module: no module named 'no_such_module'",
        says="exit 2, one line: qgraph: error: --custom-objects no_such_module: no module named 'no_such_module' (a module on the Python path, or a .py file)",
    ),
    Case(
        "cli-custom-objects-no-attribute",
        10,
        "`--custom-objects layers.py:Nope`",
        lambda tmp: cli(
            "compile",
            str(custom_keras()),
            "-o",
            str(tmp / "m.tflite"),
            "--custom-objects",
            f"{custom_layer_file()}:Nope",
        ),
        SystemExit,
        r"--custom-objects .*: .* has no attribute 'Nope'",
        says="exit 2, one line: qgraph: error: --custom-objects layers.py:Nope: 'layers.py' has no attribute 'Nope'",
    ),
    Case(
        "file-custom-objects",
        10,
        "load('custom.keras', custom_objects={'Doubler': Doubler})",
        lambda tmp: qgraph.compile(qgraph.load(custom_keras(), custom_objects={"Doubler": doubler_class()})),
        check=doubles,
        says="loads: custom_objects go to Keras' loader",
    ),
    Case(
        "file-load-options-need-a-file",
        10,
        "load(keras_model, safe_mode=False)",
        lambda tmp: qgraph.load(dense_model(), safe_mode=False),
        OptionError,
        r"safe_mode and custom_objects are for loading a \.keras or \.h5 file.*got a Sequential",
        says="OptionError: safe_mode and custom_objects are for loading a .keras or .h5 file; got a Sequential",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)
