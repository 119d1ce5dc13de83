"""The `qgraph` program's standard error without TensorFlow's and LiteRT's start-up chatter.

TensorFlow 2.21 and LiteRT log from C++ straight to file descriptor 2 (absl's "All log
messages before absl::InitializeLog()", oneDNN and CUDA probes, "Created TensorFlow Lite
XNNPACK delegate"), whatever `TF_CPP_MIN_LOG_LEVEL` says. Only a filter on the descriptor
itself catches them: `quiet_stderr()` points fd 2 at a pipe and a thread copies every line
to the real stderr except those of that chatter. qgraph's own messages, Python warnings,
tracebacks and progress bars (`\\r`-redrawn lines, shown at once) pass through.

    with quiet_stderr():
        code = main(argv)
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: a line of start-up or runtime chatter from TensorFlow/XLA/LiteRT's C++ loggers.
NOISE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] "  # absl: I0000 00:00:1795.49 14003 port.cc:153]
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    rb"|INFO: (?:Created TensorFlow Lite \w+ delegate for CPU|Initialized TensorFlow Lite runtime)\.)"
)


def is_noise(line: bytes) -> bool:
    return NOISE.match(line) is not None


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Filter the process's fd 2 for the duration (no-op where fd 2 cannot be duplicated)."""
    sys.stderr.flush()
    try:
        real = os.dup(2)
    except OSError:
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, real), name="qgraph-stderr", daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # drops the pipe's last write end: the pump reads EOF and ends
        pump.join(timeout=5)  # a child process that kept the pipe open must not hang qgraph
        os.close(real)


def _pump(read_end: int, out: int) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(1 << 16):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not is_noise(line)]
            if b"\r" in pending:  # a progress bar redrawing its line: show it now, not at its end
                kept.append(pending)
                pending = b""
            _write_all(out, b"".join(kept))
        if pending and not is_noise(pending):
            _write_all(out, pending)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
