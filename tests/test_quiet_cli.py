"""The `qgraph` program keeps TensorFlow's and LiteRT's log lines off the terminal
(`qgraph.quiet_stderr`), and shows them with `--verbose`. Each command runs in a subprocess,
as a user runs it: the chatter comes from C++ on file descriptor 2, before and after Python."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qgraph.demo import run_tflite
from qgraph.quiet_stderr import is_noise

#: lines TensorFlow 2.21 and LiteRT print on this machine (from the issue and from runs here).
CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795561744.615314   14003 port.cc:153] oneDNN custom operations are on. You may see",
    "I0000 00:00:1795561744.616458   14003 cudart_stub.cc:31] Could not find cuda drivers on your machine",
    "E0000 00:00:1795561744.700000   14003 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error",
    "W0000 00:00:1795561744.700000   14003 gpu_device.cc:2342] Cannot dlopen some GPU libraries.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with "
    "the appropriate compiler flags.",
]
KEPT = [
    "qgraph: error: no such model file: m.keras",
    "WARNING: this is not TensorFlow's",
    "/x/qgraph/foo.py:3: CompileWarning: 2 weights stay float32",
    "I0000 is not a log line without its time and source",
]


def qgraph_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qgraph", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize("line", CHATTER)
def test_chatter_is_recognised(line):
    assert is_noise(line.encode())


@pytest.mark.parametrize("line", KEPT)
def test_other_lines_are_kept(line):
    assert not is_noise(line.encode())


def test_the_filter_passes_messages_and_progress_bars_and_drops_chatter():
    chatter = "".join(line + "\n" for line in CHATTER).encode()
    code = (
        "import os, sys\n"
        "from qgraph.quiet_stderr import quiet_stderr\n"
        "with quiet_stderr():\n"
        f"    os.write(2, {chatter!r})\n"
        "    print('\\rqgraph: calibrating: 10 samples', end='', file=sys.stderr, flush=True)\n"
        "    print('\\rqgraph: calibrating: 20 samples', file=sys.stderr)\n"
        "    os.write(2, b'qgraph: error: kept\\n')\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        b"\rqgraph: calibrating: 10 samples\rqgraph: calibrating: 20 samples\nqgraph: error: kept\nafter\n"
    )


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory, digits):
    model, (x_train, *_) = digits
    folder = tmp_path_factory.mktemp("quiet")
    model.save(folder / "digits.keras")
    np.save(folder / "calib.npy", x_train[:64])
    return folder


@pytest.mark.parametrize("command", [["passes"], ["targets"]])
def test_listing_commands_print_nothing_on_stderr(command):
    done = qgraph_cli(*command)
    assert done.returncode == 0 and done.stdout and done.stderr == ""


def test_compile_prints_only_its_result_and_verbose_shows_the_chatter(digits_files):
    args = ["compile", "digits.keras", "-o", "d8.tflite", "--quantize", "int8", "--calibration", "calib.npy"]
    done = qgraph_cli(*args, cwd=digits_files)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("wrote d8.tflite")
    assert run_tflite(
        (digits_files / "d8.tflite").read_bytes(), np.zeros((1, 8, 8, 1), np.float32)
    ).shape == (
        1,
        10,
    )
    loud = qgraph_cli(*args, "--verbose", cwd=digits_files)
    assert loud.returncode == 0 and any(is_noise(line.encode()) for line in loud.stderr.splitlines())


def test_demo_runs_end_to_end_quietly(tmp_path):
    done = qgraph_cli("demo", "--epochs", "2", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no start-up lines, no tf.function retracing warnings
    assert "every written file loaded and run in LiteRT" in done.stdout
    from qgraph.demo import DEMO_BUILDS

    for target, mode in DEMO_BUILDS:
        assert f"{target}  " in done.stdout and (tmp_path / f"digits_{target}_{mode}.tflite").exists()
    assert "int8 QAT" in done.stdout and (tmp_path / "digits_cpu_int8_qat.tflite").exists()
    data = (tmp_path / "digits_cpu_int8.tflite").read_bytes()
    assert run_tflite(data, np.zeros((1, 8, 8, 1), np.float32)).shape == (1, 10)


def test_a_broken_pipe_ends_the_listing_quietly():
    done = subprocess.run(
        f"{sys.executable} -m qgraph passes | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "" and "phase" in done.stdout
