"""The CLI's answer to a wrong input or calibration file, and its flags that were missing
(`--api-level`): one `qgraph: error:` line naming the file and the problem, exit 2, never a
traceback; a real bug still shows its traceback."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

import qgraph
from tests.reliability.catalogue import Case, check, cli
from tests.reliability.files_support import calibration_npy, dense_keras, fifo, holds, then


def calibrate_with(name: str, content: bytes | None = None, *, folder: bool = False):
    def run(tmp: Path):
        path = tmp / name
        if folder:
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        out = tmp / "m.tflite"
        return then(
            lambda _: cli(
                "compile",
                str(dense_keras()),
                "-o",
                str(out),
                "--quantize",
                "int8",
                "--calibration",
                str(path),
            ),
            lambda _: holds(not out.exists(), "an output was written"),
        )(tmp)

    return run


def pickled_npy() -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def truncated_npz() -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((4, 4), "float32"))
    return buffer.getvalue()[:60]


CASES: list[Case] = [
    # item 6: the CLI's answer to a wrong file
    Case(
        "cli-input-folder",
        6,
        "`qgraph compile FOLDER -o m.tflite`",
        lambda tmp: cli("compile", str(tmp), "-o", str(tmp / "m.tflite")),
        SystemExit,
        r"'.*' is a folder, not a model file",
        says="exit 2, one line: qgraph: error: 'models' is a folder, not a model file",
    ),
    Case(
        "cli-input-missing",
        6,
        "`qgraph compile missing.keras -o m.tflite`",
        lambda tmp: cli("compile", str(tmp / "missing.keras"), "-o", str(tmp / "m.tflite")),
        SystemExit,
        r"no such model file: .*missing\.keras",
        says="exit 2, one line: qgraph: error: no such model file: missing.keras",
    ),
    Case(
        "cli-input-extension",
        6,
        "`qgraph compile model.txt -o m.tflite`",
        lambda tmp: (
            (tmp / "model.txt").write_text("x")
            and cli("compile", str(tmp / "model.txt"), "-o", str(tmp / "m.tflite"))
        ),
        SystemExit,
        r"model\.txt'.*reads \.keras, \.h5 and \.tflite",
        says="exit 2, one line: qgraph: error: cannot load 'model.txt': qgraph reads .keras, .h5 and .tflite files (got '.txt')",
    ),
    Case(
        "cli-input-fifo",
        6,
        "`qgraph compile FIFO.keras -o m.tflite` (reading it would block)",
        fifo("m.keras", lambda tmp: cli("compile", str(tmp / "m.keras"), "-o", str(tmp / "m.tflite"))),
        SystemExit,
        r"m\.keras' is a FIFO \(named pipe\), not a model file",
        says="exit 2, one line: qgraph: error: 'm.keras' is a FIFO (named pipe), not a model file",
    ),
    Case(
        "cli-calibration-text",
        6,
        "`--calibration notes.npy` (a text file named .npy)",
        calibrate_with("notes.npy", b"hello\n"),
        SystemExit,
        r"notes\.npy' is not a NumPy \.npy file",
        says="exit 2, one line: qgraph: error: calibration file 'notes.npy' is not a NumPy .npy file (no .npy header); write it with np.save",
    ),
    Case(
        "cli-calibration-pickled",
        6,
        "`--calibration objects.npy` (a pickled object array)",
        calibrate_with("objects.npy", pickled_npy()),
        SystemExit,
        r"objects\.npy' holds pickled Python objects",
        says="exit 2, one line: qgraph: error: calibration file 'objects.npy' holds pickled Python objects (an object array), which qgraph does not load; save the samples as numbers: np.save(path, np.asarray(x, np.float32))",
    ),
    Case(
        "cli-calibration-truncated-npz",
        6,
        "`--calibration cut.npz` (a truncated .npz)",
        calibrate_with("cut.npz", truncated_npz()),
        SystemExit,
        r"cut\.npz' is damaged",
        says="exit 2, one line: qgraph: error: calibration file 'cut.npz' is damaged: File is not a zip file",
    ),
    Case(
        "cli-calibration-folder",
        6,
        "`--calibration FOLDER.npy` (a folder)",
        calibrate_with("data.npy", folder=True),
        SystemExit,
        r"data\.npy' is a folder, not a calibration file",
        says="exit 2, one line: qgraph: error: 'data.npy' is a folder, not a calibration file",
    ),
    Case(
        "cli-calibration-missing",
        6,
        "`--calibration missing.npy`",
        calibrate_with("missing.npy"),
        SystemExit,
        r"calibration file '.*missing\.npy' does not exist",
        says="exit 2, one line: qgraph: error: calibration file 'missing.npy' does not exist",
    ),
    # item 10: NNAPI's API level on the command line
    Case(
        "cli-api-level",
        10,
        "`qgraph compile m.keras --target nnapi --api-level 28 --calibration S.npy`",
        lambda tmp: cli(
            "compile",
            str(dense_keras()),
            "-o",
            str(tmp / "m.tflite"),
            "--target",
            "nnapi",
            "--quantize",
            "int8",
            "--calibration",
            str(calibration_npy()),
            "--api-level",
            "28",
            "--report",
        ),
        match=r"wrote .*target nnapi",
        check=lambda result, tmp: qgraph.load(tmp / "m.tflite"),
        says="compiles for NNAPI API level 28 (the target's `api_level` option)",
    ),
    Case(
        "cli-api-level-out-of-range",
        10,
        "`qgraph compile m.keras --target nnapi --api-level 26`",
        lambda tmp: cli(
            "compile",
            str(dense_keras()),
            "-o",
            str(tmp / "m.tflite"),
            "--target",
            "nnapi",
            "--api-level",
            "26",
        ),
        SystemExit,
        r"api_level=26 is not an Android NNAPI level; use an int from 27 to 36",
        says="exit 2, one line: qgraph: error: api_level=26 is not an Android NNAPI level; use an int from 27 to 36",
    ),
    Case(
        "cli-api-level-other-target",
        10,
        "`qgraph compile m.keras --api-level 28` (target cpu)",
        lambda tmp: cli("compile", str(dense_keras()), "-o", str(tmp / "m.tflite"), "--api-level", "28"),
        SystemExit,
        r"--api-level is for --target nnapi \(got --target cpu\)",
        says="exit 2, one line: qgraph: error: --api-level is for --target nnapi (got --target cpu)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)


def test_an_internal_error_keeps_its_traceback(tmp_path):
    """Only user mistakes become one line: a bug (here an OSError about no file) propagates."""
    with mock.patch("qgraph.compile", side_effect=OSError("not about a file")), pytest.raises(OSError):
        from qgraph.cli import main

        main(["compile", str(dense_keras()), "-o", str(tmp_path / "m.tflite")])
