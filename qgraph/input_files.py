"""Checks on a file qgraph is asked to read, before any reader opens it: a missing file, a
folder, or a FIFO or device (reading which would block or never end) is named as such."""

from __future__ import annotations

import os
import stat

from qgraph.errors import OptionError


def check_input_file(path: str, what: str = "model file") -> None:
    """Raise `FileNotFoundError` for a missing `path`, `OptionError` for one that is not a
    regular file; `what` says what the file is for ("model file", "calibration file")."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such {what}: {path}") from None
    except OSError as e:  # a symlink loop, a path through a file, no permission on a folder
        raise OptionError(f"cannot read {what} {path!r}: {e.strerror}") from e
    if stat.S_ISDIR(info.st_mode):
        raise OptionError(f"{path!r} is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        from qgraph.output_files import file_kind

        raise OptionError(f"{path!r} is a {file_kind(info.st_mode)}, not a {what}")
    if not os.access(path, os.R_OK):
        raise OptionError(f"cannot read {what} {path!r}: permission denied")
