"""Writing output files: the mode a new or replaced file gets, and what a write must not
destroy (a device, a FIFO, a folder, the input model, a symlink), through the API and the
CLI; the Vela file next to the output and the demo's folder get the same checks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from unittest import mock

import pytest

import qgraph
from qgraph import output_files
from qgraph.errors import OptionError
from tests.reliability.catalogue import Case, check, cli
from tests.reliability.files_support import (
    calibration_npy,
    dense_keras,
    dense_model,
    fifo,
    holds,
    nothing_written,
    still_a_fifo,
    then,
    unwritable_folder,
)


def compile_to(name: str):
    """Compile the small dense model to `tmp_path / name` through the API."""
    return lambda tmp: qgraph.compile(dense_model(), output=tmp / name)


def with_umask(mask: int, action):
    def run(tmp: Path):
        old = os.umask(mask)
        try:
            return action(tmp)
        finally:
            os.umask(old)

    return run


def mode_is(name: str, mode: int):
    def check_mode(result, tmp: Path) -> None:
        got = stat.S_IMODE(os.stat(tmp / name).st_mode)
        assert got == mode, f"{name}: mode {oct(got)}, want {oct(mode)}"

    return check_mode


def existing(name: str, mode: int):
    """Compile over an existing file of mode `mode` (umask 022 would give 0644)."""

    def run(tmp: Path):
        (tmp / name).write_bytes(b"old")
        os.chmod(tmp / name, mode)
        return with_umask(0o022, compile_to(name))(tmp)

    return run


def read_only(tmp: Path):
    (tmp / "m.tflite").write_bytes(b"old")
    os.chmod(tmp / "m.tflite", 0o444)
    # Root may write any file, so there the OS answer a normal user gets is simulated.
    as_user = (
        contextlib.nullcontext()
        if os.geteuid() != 0
        else mock.patch.object(
            output_files.os,
            "access",
            lambda path, mode: not (mode & os.W_OK and str(path).endswith("m.tflite")),
        )
    )
    try:
        with as_user:
            return qgraph.compile(dense_model(), output=tmp / "m.tflite")
    finally:
        holds((tmp / "m.tflite").read_bytes() == b"old", "the read-only file was replaced")


def char_device(tmp: Path):
    """A /dev/null twin in tmp_path (needs root or CAP_MKNOD)."""
    try:
        os.mknod(tmp / "null.tflite", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    result = cli("compile", str(dense_keras()), "-o", str(tmp / "null.tflite"))
    assert stat.S_ISCHR(os.lstat(tmp / "null.tflite").st_mode), "the device was replaced"
    return result


def dev_null(tmp: Path):
    """`-o /dev/null`, with a guard that fails the test instead of touching /dev when the
    refusal regresses (as root, a rename would replace /dev/null)."""
    replace, mkstemp = os.replace, tempfile.mkstemp

    def guarded_replace(src, dst, *a, **k):
        assert not os.path.realpath(dst).startswith("/dev/"), "qgraph tried to replace /dev/null"
        return replace(src, dst, *a, **k)

    def guarded_mkstemp(*a, dir=None, **k):
        assert dir is None or not os.path.realpath(dir).startswith("/dev"), "qgraph wrote into /dev"
        return mkstemp(*a, dir=dir, **k)

    with mock.patch("os.replace", guarded_replace), mock.patch("tempfile.mkstemp", guarded_mkstemp):
        return cli("compile", str(dense_keras()), "-o", "/dev/null")


def model_copy(tmp: Path, name: str = "m.keras") -> Path:
    shutil.copy(dense_keras(), tmp / name)
    return tmp / name


def model_intact(name: str = "m.keras"):
    return lambda tmp: holds((tmp / name).read_bytes() == dense_keras().read_bytes(), f"{name} was changed")


def output_is_input(tmp: Path):
    return cli("compile", str(model_copy(tmp)), "-o", str(tmp / "m.keras"))


def output_links_to_input(tmp: Path):
    os.symlink(model_copy(tmp), tmp / "link.tflite")
    return cli("compile", str(tmp / "m.keras"), "-o", str(tmp / "link.tflite"))


def api_output_is_input(tmp: Path):
    return qgraph.compile(str(model_copy(tmp)), output=tmp / "m.keras")


def through_symlink(tmp: Path):
    (tmp / "real").mkdir()
    (tmp / "real" / "m.tflite").write_bytes(b"old")
    os.chmod(tmp / "real" / "m.tflite", 0o640)
    os.symlink(tmp / "real" / "m.tflite", tmp / "link.tflite")
    return qgraph.compile(dense_model(), output=tmp / "link.tflite")


def wrote_through_link(result, tmp: Path) -> None:
    assert os.path.islink(tmp / "link.tflite"), "the symlink was replaced by a file"
    assert (tmp / "real" / "m.tflite").read_bytes() == result.tflite, "the link's target lacks the new file"
    assert stat.S_IMODE(os.stat(tmp / "real" / "m.tflite").st_mode) == 0o640
    assert sorted(os.listdir(tmp)) == ["link.tflite", "real"], "a stray file was left"


def vela_compile(tmp: Path):
    from tests.reliability.files_support import samples

    return qgraph.compile(
        dense_model(), target="ethos-u", representative_data=samples(16), output=tmp / "m.tflite", vela=True
    )


def no_temporary_file(tmp: Path) -> None:
    left = [p.name for p in tmp.iterdir() if p.name.startswith(".qgraph-")]
    assert not left, f"temporary files left: {left}"


def disk_full(tmp: Path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with mock.patch("qgraph.output_files.os.fsync", side_effect=full):
        return cli("compile", str(dense_keras()), "-o", str(tmp / "m.tflite"))


CASES: list[Case] = [
    # item 3: output modes
    Case(
        "file-mode-new-umask-022",
        3,
        "compile(..., output=NEW) under umask 022",
        with_umask(0o022, compile_to("m.tflite")),
        check=mode_is("m.tflite", 0o644),
        says="the new file is 0644 (0666 less the umask), as `open(path, 'wb')` would make it",
    ),
    Case(
        "file-mode-new-umask-027",
        3,
        "compile(..., output=NEW) under umask 027",
        with_umask(0o027, compile_to("m.tflite")),
        check=mode_is("m.tflite", 0o640),
        says="the new file is 0640: the umask decides",
    ),
    Case(
        "file-mode-kept-on-overwrite",
        3,
        "compile(..., output=EXISTING) over a 0664 file",
        existing("m.tflite", 0o664),
        check=mode_is("m.tflite", 0o664),
        says="the replaced file keeps its mode (0664)",
    ),
    Case(
        "cli-mode-new",
        3,
        "`qgraph compile m.keras -o NEW.tflite` under umask 022",
        with_umask(0o022, lambda tmp: cli("compile", str(dense_keras()), "-o", str(tmp / "m.tflite"))),
        match="wrote",
        check=mode_is("m.tflite", 0o644),
        says="the new file is 0644",
    ),
    # item 4: destructive writes
    Case(
        "file-output-fifo",
        4,
        "compile(..., output=a FIFO)",
        then(fifo("m.tflite", compile_to("m.tflite")), still_a_fifo("m.tflite")),
        OptionError,
        r"'.*m\.tflite' is a FIFO .*not a regular file",
        says="OptionError: output 'm.tflite' is a FIFO (named pipe), not a regular file: qgraph writes a new file and renames it over the output, which would replace it; name a regular file",
    ),
    Case(
        "cli-output-fifo",
        4,
        "`qgraph compile m.keras -o FIFO.tflite`",
        then(
            fifo("m.tflite", lambda tmp: cli("compile", str(dense_keras()), "-o", str(tmp / "m.tflite"))),
            still_a_fifo("m.tflite"),
        ),
        SystemExit,
        r"m\.tflite' is a FIFO",
        says="exit 2, one line: qgraph: error: -o 'm.tflite' is a FIFO (named pipe), not a regular file: qgraph writes a new file and renames it over the output, which would replace it; name a regular file",
    ),
    Case(
        "file-output-read-only",
        4,
        "compile(..., output=a read-only file) (not as root)",
        read_only,
        OptionError,
        r"output '.*m\.tflite' is read-only",
        says="OptionError: output 'm.tflite' is read-only; make it writable or choose another output name",
    ),
    Case(
        "cli-output-char-device",
        4,
        "`qgraph compile m.keras -o DEVICE` (a /dev/null twin)",
        char_device,
        SystemExit,
        r"null\.tflite' is a character device, not a regular file",
        says="exit 2, one line: qgraph: error: -o 'null.tflite' is a character device, not a regular file: qgraph writes a new file and renames it over the output, which would replace it; name a regular file",
    ),
    Case(
        "cli-output-dev-null",
        4,
        "`qgraph compile m.keras -o /dev/null` (as root it would be replaced)",
        dev_null,
        SystemExit,
        r"'/dev/null' is a character device",
        says="exit 2, one line: qgraph: error: -o '/dev/null' is a character device, not a regular file: qgraph writes a new file and renames it over the output, which would replace it; name a regular file",
    ),
    Case(
        "cli-output-folder",
        4,
        "`qgraph compile m.keras -o FOLDER`",
        lambda tmp: cli("compile", str(dense_keras()), "-o", str(tmp)),
        SystemExit,
        r"-o '.*' is a folder; name a file in it",
        says="exit 2, one line: qgraph: error: -o 'out' is a folder; name a file in it, e.g. 'out/model.tflite'",
    ),
    Case(
        "cli-output-is-input",
        4,
        "`qgraph compile m.keras -o m.keras`",
        then(output_is_input, model_intact()),
        SystemExit,
        r"m\.keras' is the input model",
        says="refused (exit 2): the output is the input model; the model is untouched",
    ),
    Case(
        "cli-output-links-to-input",
        4,
        "`qgraph compile m.keras -o link.tflite` where link.tflite -> m.keras",
        then(output_links_to_input, model_intact()),
        SystemExit,
        r"link\.tflite' is the input model",
        says="exit 2, one line: qgraph: error: -o 'link.tflite' is the input model 'm.keras'; choose another output name",
    ),
    Case(
        "file-output-is-input",
        4,
        "`compile('m.keras', output='m.keras')`",
        then(api_output_is_input, model_intact()),
        OptionError,
        r"m\.keras' is the input model",
        says="OptionError: output 'm.keras' is the input model 'm.keras'; choose another output name",
    ),
    Case(
        "file-output-through-symlink",
        4,
        "compile(..., output=a symlink to a 0640 file)",
        through_symlink,
        check=wrote_through_link,
        says="writes through the link: the link stays, its target gets the new file and keeps its mode",
    ),
    Case(
        "file-vela-output-fifo",
        4,
        "compile(..., target='ethos-u', vela=True, output='m.tflite') with m_vela.tflite a FIFO",
        then(fifo("m_vela.tflite", vela_compile), still_a_fifo("m_vela.tflite"), nothing_written("m.tflite")),
        OptionError,
        r"m_vela\.tflite' is a FIFO",
        says="OptionError before any file is written: the extra file gets the output's checks",
    ),
    Case(
        "cli-vela-output-fifo",
        4,
        "`qgraph compile m.keras -o m.tflite --target ethos-u --vela` with m_vela.tflite a FIFO",
        then(
            fifo(
                "m_vela.tflite",
                lambda tmp: cli(
                    "compile",
                    str(dense_keras()),
                    "-o",
                    str(tmp / "m.tflite"),
                    "--target",
                    "ethos-u",
                    "--calibration",
                    str(calibration_npy()),
                    "--vela",
                ),
            ),
            still_a_fifo("m_vela.tflite"),
            nothing_written("m.tflite"),
        ),
        SystemExit,
        r"Vela's output '.*m_vela\.tflite' is a FIFO",
        says="exit 2, one line: qgraph: error: Vela's output 'm_vela.tflite' is a FIFO (named pipe), not a regular file: qgraph writes a new file and renames it over the output, which would replace it; name a regular file",
    ),
    Case(
        "cli-output-disk-full",
        4,
        "`qgraph compile m.keras -o m.tflite` on a full disk (simulated)",
        then(disk_full, nothing_written("m.tflite"), no_temporary_file),
        SystemExit,
        r"m\.tflite: No space left on device",
        says="exit 2, one line naming the output and the system's reason; no partial or temporary file",
    ),
    Case(
        "cli-output-folder-missing",
        4,
        "`qgraph compile m.keras -o no/such/folder/m.tflite`",
        lambda tmp: cli("compile", str(dense_keras()), "-o", str(tmp / "no" / "m.tflite")),
        SystemExit,
        r"-o folder '.*no' does not exist",
        says="exit 2, one line: qgraph: error: -o folder 'no' does not exist",
    ),
    Case(
        "cli-output-folder-unwritable",
        4,
        "`qgraph compile m.keras -o LOCKED/m.tflite` (no write permission)",
        lambda tmp: cli("compile", str(dense_keras()), "-o", str(unwritable_folder(tmp) / "m.tflite")),
        SystemExit,
        r"cannot write .*m\.tflite': folder '.*' is not writable",
        says="exit 2, one line: qgraph: error: cannot write -o 'locked/m.tflite': folder 'locked' is not writable",
    ),
    Case(
        "cli-output-extension",
        4,
        "`qgraph compile m.keras -o other.keras` (not .tflite)",
        lambda tmp: cli("compile", str(dense_keras()), "-o", str(tmp / "other.keras")),
        SystemExit,
        r"-o .*other\.keras': \.keras names a Keras model.*name it \*\.tflite",
        says="exit 2, one line: qgraph: error: -o 'other.keras': .keras names a Keras model, and qgraph writes TFLite; name it *.tflite",
    ),
    Case(
        "file-output-keras-extension",
        4,
        "compile(..., output='other.h5')",
        compile_to("other.h5"),
        OptionError,
        r"output '.*other\.h5': \.h5 names a Keras model",
        says="OptionError: output 'other.h5': .h5 names a Keras model, and qgraph writes TFLite; name it *.tflite",
    ),
    Case(
        "cli-demo-out-is-file",
        4,
        "`qgraph demo --out FILE` (an existing file, not a folder)",
        lambda tmp: (tmp / "f").write_text("x") and cli("demo", "--out", str(tmp / "f")),
        SystemExit,
        r"--out '.*f' is not a folder",
        says="exit 2, one line: qgraph: error: --out 'f' is not a folder; name a folder for the demo's .tflite files",
    ),
    Case(
        "cli-demo-out-unwritable",
        4,
        "`qgraph demo --out LOCKED/demo` (a folder it cannot create)",
        lambda tmp: cli("demo", "--out", str(unwritable_folder(tmp) / "demo")),
        SystemExit,
        r"--out '.*demo': (cannot create the folder|the folder is not writable)",
        says="exit 2, one line: qgraph: error: --out 'locked/demo': cannot create the folder (Permission denied)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)
