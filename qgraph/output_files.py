"""Writing qgraph's output files without destroying anything.

A file is written to a temporary file in its folder and renamed over the output, so a
failure never leaves a partial file. Around that rename:
- the output must be a regular file or not exist: a device (`/dev/null`), FIFO, socket or
  folder is refused, since the rename would replace it with a regular file;
- an output that is the input model (the same file, also through a symlink) is refused;
- a symlink is written through: its target gets the new content, the link stays;
- a read-only output is refused, as `open(path, "wb")` would refuse it;
- the new file gets the mode `open(path, "wb")` would give it: the mode of the file it
  replaces, or 0666 less the umask (mkstemp alone makes every file 0600).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from typing import Any

from qgraph.errors import OptionError

#: extensions of the files qgraph reads: writing a TFLite file under such a name is a mistake.
INPUT_EXTENSIONS = {".keras": "a Keras model", ".h5": "a Keras model", ".hdf5": "a Keras model",
                    ".npy": "NumPy data", ".npz": "NumPy data"}  # fmt: skip


def check_output(path: str | os.PathLike, source: Any = None, what: str = "output") -> str:
    """The real path `path` will be written at (symlinks followed), after refusing what the
    write would destroy or cannot do; `source` is the input model (a path or a Graph)."""
    path = os.fspath(path)
    if not path:
        raise OptionError(f"{what} is an empty path; name a .tflite file")
    ext = os.path.splitext(path)[1].lower()
    real = os.path.realpath(path)
    info = _stat(real, path, what)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OptionError(
            f"{what} {path!r} is a folder; name a file in it, e.g. {os.path.join(path, 'model.tflite')!r}"
        )
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = file_kind(info.st_mode)
        raise OptionError(
            f"{what} {path!r} is a {kind}, not a regular file: qgraph writes a new file and renames it "
            "over the output, which would replace it; name a regular file"
        )
    if info is not None and not os.access(real, os.W_OK):  # as `open(path, "wb")` would refuse
        raise OptionError(f"{what} {path!r} is read-only; make it writable or choose another output name")
    source_path = _source_path(source)
    if info is not None and source_path is not None and _same_file(real, source_path):
        raise OptionError(f"{what} {path!r} is the input model {source_path!r}; choose another output name")
    if ext in INPUT_EXTENSIONS:
        raise OptionError(
            f"{what} {path!r}: {ext} names {INPUT_EXTENSIONS[ext]}, and qgraph writes TFLite; name it *.tflite"
        )
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        shown = os.path.dirname(os.path.abspath(path))
        if os.path.islink(path):
            raise OptionError(f"{what} {path!r} is a symlink to {real!r}, whose folder does not exist")
        if os.path.exists(shown):
            raise OptionError(f"{what} folder {shown!r} is not a folder")
        raise OptionError(f"{what} folder {shown!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(f"cannot write {what} {path!r}: folder {folder!r} is not writable")
    return real


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "folder" if stat.S_ISDIR(mode) else "special file"


def write_atomic(path: str | os.PathLike, data: bytes, source: Any = None) -> str:
    """Write `data` to `path` (checked by `check_output`) via a temporary file in the same
    folder and a rename, so a failure never leaves a partial file behind."""
    path = os.fspath(path)
    real = check_output(path, source)
    folder = os.path.dirname(real)
    replaced = _stat(real, path, "output")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qgraph-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OptionError(
            f"cannot write output {path!r}: folder {folder!r} is not writable ({e.strerror})"
        ) from e
    try:
        with os.fdopen(fd, "wb") as f:
            _give_mode(f.fileno(), replaced)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):  # e.g. a full disk: name the user's path, not the temporary file
            raise OSError(e.errno, e.strerror, path) from e
        raise
    return path


def write_outputs(
    output: str | os.PathLike, data: bytes, extras: Mapping[str, bytes], source: Any = None
) -> tuple[str, dict[str, str]]:
    """Write `data` to `output` and each extra file (by suffix) next to it, as `stem + suffix`,
    checking every path before writing any, so a refused one leaves no file behind."""
    output = os.fspath(output)
    stem = os.path.splitext(output)[0]
    paths = {suffix: stem + suffix for suffix in extras}
    for path in [*paths.values(), output]:
        check_output(path, source)
    written = {suffix: write_atomic(paths[suffix], extra, source) for suffix, extra in extras.items()}
    return write_atomic(output, data, source), written


def _give_mode(fd: int, replaced: os.stat_result | None) -> None:
    """The mode (and, when we may, owner) of the replaced file; else 0666 less the umask."""
    if replaced is None:
        os.fchmod(fd, 0o666 & ~_umask())
        return
    os.fchmod(fd, stat.S_IMODE(replaced.st_mode) & 0o777)
    if (replaced.st_uid, replaced.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(PermissionError):
            os.fchown(fd, replaced.st_uid, replaced.st_gid)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (threads share it)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stat(real: str, path: str, what: str) -> os.stat_result | None:
    try:
        return os.stat(real)
    except FileNotFoundError:
        return None
    except OSError as e:  # a symlink loop, a path through a file
        raise OptionError(f"cannot write {what} {path!r}: {e.strerror}") from e


def _source_path(source: Any) -> str | None:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    meta = getattr(source, "meta", None)
    return meta.get("source_file") if isinstance(meta, dict) else None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
