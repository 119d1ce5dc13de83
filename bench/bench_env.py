"""What every benchmark prints about the run: machine, versions, load; shared formatting and
the small training helpers the tool-vs-tool benchmarks share (epoch timing, accuracy)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def version_of(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def environment(extra_packages: tuple[str, ...] = ()) -> list[str]:
    import keras
    import tensorflow as tf

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    gpus = tf.config.list_physical_devices("GPU")
    extras = "".join(f"{p} {version_of(p)}, " for p in extra_packages)
    return [
        f"load average at start (1/5/15 min): {loadavg()}",
        f"CPUs (nproc): {usable}  ({cpu})",
        f"GPU: {', '.join(g.name for g in gpus) if gpus else 'none'}",
        f"OS: {platform.platform()}",
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, {extras}"
        f"ai-edge-litert {version_of('ai-edge-litert')}, qgraph {version_of('qgraph')} (git {qgraph_revision()})",
    ]


def qgraph_revision() -> str:
    """The git commit of the qgraph checkout being measured (read-only git calls)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", root, *args], capture_output=True, text=True, check=True
            ).stdout.strip()

        sha, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" + uncommitted changes" if dirty else "")


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unavailable"


def fmt_s(t: float) -> str:
    return f"{t:.3f}" if t < 10 else f"{t:.2f}"


def accuracy(probs, y) -> float:
    """Top-1 accuracy of class probabilities (or logits) `probs` against labels `y`."""
    import numpy as np

    return float(np.mean(np.asarray(probs).argmax(1) == y))


def epoch_timer(callback_base):
    """A callback (subclass of `callback_base`: Keras 3's or tf-keras' Callback) whose `times`
    lists each epoch's seconds."""

    class EpochTimer(callback_base):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t0)

    return EpochTimer()


def print_report(md: str, infos: list[str], notes: list[str], env: list[str], path: str | None) -> None:
    """Print the tables, the model notes and the details; with `path`, also write them and the
    environment there (the `--markdown FILE` of every benchmark); end with the last env line."""
    print(md)
    print()
    for line in infos:
        print(f"- {line}")
    print()
    print("\n".join(notes))
    if path:
        with open(path, "w") as f:
            f.write(md + "\n\n")
            f.write("\n".join(f"- {line}" for line in infos) + "\n\n")
            f.write("```\n" + "\n".join(notes) + "\n```\n\n")
            f.write("Environment: " + "; ".join(env) + "\n")
        print(f"\ntables written to {path}")
    print(f"\n- {env[-1]}")
