"""Per-layer debugging benchmark: qgraph.verify vs. TensorFlow's QuantizationDebugger.

Run from the repository root:

    python bench/verify.py                            # digits CNN and MobileNetV2
    python bench/verify.py --models digits            # the small model only (seconds)
    python bench/verify.py --markdown /tmp/verify.md  # also write the table to a file

See `--help` for what is measured.
"""

from __future__ import annotations

import os

# Must be set before TensorFlow is imported anywhere (qgraph imports it too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import csv
import gc
import io
import math
import re
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench_env import environment, fmt_s, loadavg, log, print_report  # bench/ is the script's folder

DESCRIPTION = """\
Compare qgraph's per-layer debugging of an int8 model (qgraph.verify) with TensorFlow's own
tool, tf.lite.experimental.QuantizationDebugger, in one process, on the same in-memory Keras
models, the SAME calibration samples and the SAME debug samples. Both tools end with an int8
model and one line of error statistics per layer.

Tools (wall time, time.perf_counter, around each call alone):
  qgraph compile   qgraph.compile(model, target="cpu", quantize="int8",
                                  representative_data=calib).tflite        (bytes)
  qgraph verify    qgraph.verify(model, int8_bytes, debug)   on qgraph's file
  verify (conv.)   qgraph.verify(model, converter_bytes, debug)  on the converter's int8
                   file of the same model (qgraph.testing.converter_int8(model, calib),
                   built once before the timed repeats; its time is printed for reference)
  debugger         c = tf.lite.TFLiteConverter.from_keras_model(model)
                   c.optimizations = [tf.lite.Optimize.DEFAULT]
                   c.representative_dataset = lambda: ([calib[i:i+1]] for i ...)
                   d = tf.lite.experimental.QuantizationDebugger(converter=c,
                           debug_dataset=lambda: ([debug[i:i+B]] for i ...))   "construct"
                   d.run()                                                     "run"
                   i.e. the converter set up exactly as qgraph.testing.converter_int8 does
                   (same samples, one at a time). The constructor converts (calibrate-only
                   conversion, then the MLIR quantizer with a NumericVerify op after every
                   quantized op) and loads the result in tf.lite.Interpreter; run() invokes it
                   on the debug samples, B per invoke (--debugger-batch, default 1, as in
                   TensorFlow's debugger tutorial), and averages the per-invoke statistics.
  Like for like: "int8 model + per-layer statistics" = qgraph compile + qgraph verify
  against debugger construct + run. "Per-layer statistics alone" = qgraph verify against
  d.run(). Also timed, as a fairness check: run() of the same instrumented model with the
  debug samples batched (B = the largest divisor of the sample count <= 32, like verify's
  batches of 32; "debugger run, batched").
  Not timed: reading the debugger's table (d.layer_statistics_dump, for each layer's scale).

  Before any timing: TensorFlow is imported, the models are built, and (unless --no-warmup)
  every timed call runs once, untimed, on a tiny throwaway CNN, so one-off process costs
  (lazy imports, the first tracing, MLIR start-up) are charged to neither tool. Each repeat
  alternates which tool goes first; gc.collect() runs before each timed call.

Models (nothing is downloaded):
  digits       qgraph.demo.train_digits_cnn(epochs=8) (trained here on scikit-learn's 8x8
               digits). Calibration: x_train[:100]. Debug samples: x_test[:100].
  mobilenetv2  qgraph.testing.application_model("MobileNetV2", 224): weights=None, 10
               logits, BatchNorm statistics set from the helper's 20 samples uniform in
               [0, 1). The helper's own sets are small (20 / 8), so calibration is 100 and
               debug 32 further samples of the same distribution (other seeds).

Reported per model (median of --repeats; all individual times are printed):
  times (s) and the ratio qgraph / debugger: LOWER IS BETTER FOR QGRAPH (< 1: qgraph is
  faster). Layers reported: qgraph = len(Verification.layers) (layers whose output the file
  holds, matched by name); debugger = len(layer_statistics) (one per NumericVerify op, i.e.
  per quantized op, so a Dense + softmax is two entries).
  Worst layer:
    qgraph     Verification.layers[0]: the lowest own_db (the SQNR of the error the layer
               adds itself: the file's output against the layer's Keras computation fed
               the file's own inputs to it), on qgraph's file and on the converter's.
    debugger   the highest rmse/scale = sqrt(mean_squared_error) / the output's int8 scale,
               i.e. the RMS error in quantization steps, the normalisation of TensorFlow's
               debugger tutorial (the error relative to the output's range, range = 255 x
               scale; pure rounding gives 1/sqrt(12) = 0.29, the tutorial flags > 0.7).
               Also (untimed, a second run of the same instrumented model in a
               QuantizationDebugger built from quant_debug_model_content with
               layer_direct_compare_metrics, which keeps every tensor) the lowest own SQNR =
               10 log10(mean f^2 / mean (f - dequant(q))^2) of the float op's output f and
               the quantized op's output q: the same quantity as qgraph's own_db. Its noise
               must equal the run's mean_squared_error (checked, printed).
  Debugger entries are named by Keras layer (qgraph.debugging.matching.layer_of on the
  tensor name; "StatefulPartitionedCall:k" is the model's k-th output) and op type.

The results are printed to stdout as Markdown (with an environment header: load average,
CPU count, versions); --markdown PATH also writes them to PATH. Progress goes to stderr. A
tool that raises is shown in its cells ("fails: <first line of the error>"), its traceback
goes to stderr.
"""

MODELS = ("digits", "mobilenetv2")
PRETTY = {"digits": "Digits CNN", "mobilenetv2": "MobileNetV2 224 (10 classes)"}
DEFAULT_REPEATS = {"digits": 3, "mobilenetv2": 1}
DEBUG_SAMPLES = {"digits": 100, "mobilenetv2": 32}
#: the timed steps, in the order of one repeat (the two groups swap every other repeat)
QGRAPH_STEPS = ("compile", "verify", "verify_conv")
DEBUGGER_STEPS = ("construct", "run", "run_batched")


@dataclass
class Case:
    name: str
    model: Any
    calib: Any
    debug: Any
    info: str = ""


@dataclass
class Ranked:
    """One tool's per-layer ranking, worst first: (label, value) pairs."""

    entries: list[tuple[str, float]] = field(default_factory=list)
    unit: str = ""

    def worst(self) -> str:
        if not self.entries:
            return "–"
        label, value = self.entries[0]
        return f"{label}: {value:.2f}{self.unit}"

    def rank_of(self, layer: str) -> int | None:
        """1-based position of the first entry naming Keras layer `layer`."""
        return next(
            (k + 1 for k, (label, _) in enumerate(self.entries) if label.split(" (")[0] == layer), None
        )


@dataclass
class Result:
    name: str
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    converter_s: float = float("nan")
    batch: int = 1
    batched: int = 1
    qgraph: Any = None  # Verification on qgraph's file
    qgraph_conv: Any = None  # Verification on the converter's file
    debugger_layers: int = 0
    by_step: Ranked = field(default_factory=Ranked)  # debugger, rmse/scale
    by_sqnr: Ranked = field(default_factory=Ranked)  # debugger, own SQNR (untimed pass)
    sqnr_check: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    def median(self, step: str) -> float:
        return statistics.median(self.times[step]) if self.times.get(step) else float("nan")


# ---------------------------------------------------------------- models


def build_digits(seed: int) -> Case:
    import numpy as np

    from qgraph.demo import train_digits_cnn

    t0 = time.perf_counter()
    model, (x_train, _y, x_test, _yt) = train_digits_cnn(epochs=8, seed=seed)
    log(f"  trained in {time.perf_counter() - t0:.1f} s")
    case = Case(
        "digits",
        model,
        np.ascontiguousarray(x_train[:100], np.float32),
        np.ascontiguousarray(x_test[:100], np.float32),
    )
    case.info = (
        f"Digits CNN: trained 8 epochs (seed {seed}); calibration = x_train[:100], debug samples = "
        f"x_test[:100] ({len(x_test)} test samples)"
    )
    return case


def build_mobilenetv2(seed: int) -> Case:
    import numpy as np

    from qgraph.testing import application_model

    model, bn_samples, _held_out = application_model("MobileNetV2", 224, seed=seed)
    # the helper's distribution (uniform [0, 1) for MobileNetV2), other seeds than its own
    lo, hi = float(bn_samples.min()), float(bn_samples.max())
    calib = np.random.default_rng(seed + 1).uniform(0, 1, (100, 224, 224, 3)).astype(np.float32)
    debug = np.random.default_rng(seed + 2).uniform(0, 1, (32, 224, 224, 3)).astype(np.float32)
    case = Case("mobilenetv2", model, calib, debug)
    case.info = (
        f"MobileNetV2: qgraph.testing.application_model('MobileNetV2', 224, seed={seed}) (weights=None, "
        f"10 logits, BN statistics from its {len(bn_samples)} samples in [{lo:.2f}, {hi:.2f}]); calibration "
        f"= 100, debug = 32 further samples uniform in [0, 1) (seeds {seed + 1}, {seed + 2})"
    )
    return case


def tiny_case() -> Case:
    """A throwaway CNN for the untimed warm-up call of every tool."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 1), name="x")
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c")(inp)
    y = keras.layers.GlobalAveragePooling2D(name="g")(y)
    y = keras.layers.Dense(3, name="d")(y)
    model = keras.Model(inp, y, name="warmup")
    rng = np.random.default_rng(1)
    return Case("warmup", model, rng.random((8, 8, 8, 1), np.float32), rng.random((4, 8, 8, 1), np.float32))


BUILDERS: dict[str, Callable[[int], Case]] = {"digits": build_digits, "mobilenetv2": build_mobilenetv2}


# ---------------------------------------------------------------- the tools


def qgraph_compile(case: Case) -> bytes:
    import qgraph

    return qgraph.compile(case.model, target="cpu", quantize="int8", representative_data=case.calib).tflite


def qgraph_verify(case: Case, tflite: bytes) -> Any:
    import qgraph

    return qgraph.verify(case.model, tflite, case.debug)


@contextlib.contextmanager
def quiet():
    """Keras' export prints the SavedModel signature to stdout and the converter warns on every
    int8 call ("Statistics for quantized inputs were expected", "tf.lite.Interpreter is
    deprecated"): as qgraph.testing.converter_int8 does, keep them out of the output."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def converter_like_converter_int8(model, samples):
    """The TFLiteConverter of qgraph.testing.converter_int8 (single input), before convert()."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
    return conv


def batches(samples, size: int) -> Callable[[], Any]:
    return lambda: ([samples[i : i + size]] for i in range(0, len(samples), size))


def debugger_construct(case: Case, batch: int) -> Any:
    import tensorflow as tf

    with quiet():
        return tf.lite.experimental.QuantizationDebugger(
            converter=converter_like_converter_int8(case.model, case.calib),
            debug_dataset=batches(case.debug, batch),
        )


def debugger_run(debugger: Any) -> None:
    with quiet():
        debugger.run()


def debugger_from_content(debugger: Any, samples, batch: int, options: Any = None) -> Any:
    """A debugger on the same instrumented model bytes (no conversion), e.g. with other samples
    per invoke or with layer_direct_compare_metrics (whose interpreter keeps every tensor)."""
    import tensorflow as tf

    with quiet():
        return tf.lite.experimental.QuantizationDebugger(
            quant_debug_model_content=debugger.quant_model,
            debug_dataset=batches(samples, batch),
            debug_options=options,
        )


def converter_int8(case: Case) -> bytes:
    from qgraph.testing import converter_int8 as build

    with quiet():
        return build(case.model, case.calib)


# ---------------------------------------------------------------- debugger's table


def debugger_table(debugger: Any) -> dict[str, dict[str, Any]]:
    """{NumericVerify name: row of layer_statistics_dump (op_name, scale, tensor_name, ...)}."""
    f = io.StringIO()
    debugger.layer_statistics_dump(f)
    rows = list(csv.DictReader(io.StringIO(f.getvalue())))
    # the dump follows layer_statistics' order
    return dict(zip(debugger.layer_statistics, rows, strict=True))


def layer_label(tensor_name: str, op: str, order: dict[str, int], model: Any, outputs: list[str]) -> str:
    from qgraph.debugging.matching import layer_of

    layer = layer_of(tensor_name, order, model.name)
    m = re.fullmatch(r"StatefulPartitionedCall(?:_\d+)?:(\d+)", tensor_name)
    if layer is None and m and int(m.group(1)) < len(outputs):
        layer = outputs[int(m.group(1))]
    return f"{layer or tensor_name} ({op})"


def debugger_rankings(case: Case, debugger: Any, res: Result, direct_compare: bool) -> None:
    import numpy as np
    import tensorflow as tf

    from qgraph.debugging.capture import keras_layers

    layers, _ = keras_layers(case.model)
    order = {layer.name: k for k, layer in enumerate(layers)}
    outputs = [next((la.name for la in layers if la.output is out), "") for out in case.model.outputs]
    table = debugger_table(debugger)
    labels = {
        name: layer_label(row["tensor_name"], row["op_name"], order, case.model, outputs)
        for name, row in table.items()
    }
    res.debugger_layers = len(table)
    steps = []
    for name, stats in debugger.layer_statistics.items():
        scale = float(table[name]["scale"])
        steps.append((labels[name], math.sqrt(float(stats["mean_squared_error"])) / scale))
    res.by_step = Ranked(sorted(steps, key=lambda e: -e[1]), " steps")
    if not direct_compare:
        return

    def deq(q, s, zp):
        return (q.astype(np.float64) - zp) * s

    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={
            "signal": lambda f, q, s, zp: float(np.mean(np.square(f.astype(np.float64)))),
            "noise": lambda f, q, s, zp: float(np.mean(np.square(f.astype(np.float64) - deq(q, s, zp)))),
        }
    )
    second = debugger_from_content(debugger, case.debug, res.batch, options)
    debugger_run(second)
    sqnr, worst_dev = [], 0.0
    for name, stats in second.layer_statistics.items():
        noise, signal = float(stats["noise"]), float(stats["signal"])
        mse = float(debugger.layer_statistics[name]["mean_squared_error"])
        scale = float(table[name]["scale"])
        # the two noises are the same quantity; compare at the resolution of the int8 step
        worst_dev = max(worst_dev, abs(noise - mse) / scale**2)
        value = math.inf if noise == 0 else (-math.inf if signal == 0 else 10 * math.log10(signal / noise))
        sqnr.append((labels[name], value))
    res.by_sqnr = Ranked(sorted(sqnr, key=lambda e: e[1]), " dB")
    res.sqnr_check = (
        f"direct-compare noise vs the run's mean_squared_error: max |difference| = {worst_dev:.2g} "
        f"squared int8 steps ({'consistent' if worst_dev < 1e-3 else '**INCONSISTENT**'})"
    )


def qgraph_ranking(v: Any) -> Ranked:
    return Ranked([(e.layer, e.own_db) for e in v.layers], " dB")


# ---------------------------------------------------------------- measurement


def failure(e: BaseException) -> str:
    """Print the current exception's traceback to stderr; return its first line for the table."""
    traceback.print_exc()
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


def warm_up() -> None:
    """Every timed call once, untimed, on a tiny CNN (one-off process costs)."""
    case = tiny_case()
    t0 = time.perf_counter()
    for step, fn in (
        ("qgraph", lambda: qgraph_verify(case, qgraph_compile(case))),
        ("converter", lambda: qgraph_verify(case, converter_int8(case))),
        ("debugger", lambda: debugger_run(debugger_construct(case, 1))),
    ):
        try:
            fn()
        except Exception as e:  # the real run reports it; the warm-up only notes it
            log(f"  warm-up {step} failed: {type(e).__name__}: {e}")
    log(f"  warm-up (untimed, tiny CNN): {time.perf_counter() - t0:.1f} s")


def measure(case: Case, repeats: int, batch: int, direct_compare: bool) -> Result:
    label = PRETTY[case.name]
    res = Result(case.name, batch=batch, batched=largest_divisor(len(case.debug), 32))
    res.times = {step: [] for step in QGRAPH_STEPS + DEBUGGER_STEPS}
    conv_file: bytes | None = None
    try:
        conv_file, res.converter_s = timed(lambda: converter_int8(case))
        res.sizes["converter"] = len(conv_file)
        log(f"    {label} converter_int8 (reference, not a debugging tool): {res.converter_s:.3f} s")
    except Exception as e:
        res.errors["verify_conv"] = f"no converter file: {failure(e)}"

    def qgraph_group(i: int) -> None:
        if "compile" not in res.errors and "verify" not in res.errors:
            try:
                data, t = timed(lambda: qgraph_compile(case))
                res.times["compile"].append(t)
                res.sizes["qgraph"] = len(data)
            except Exception as e:
                res.errors["compile"] = failure(e)
                res.errors["verify"] = "no qgraph file"
            else:
                try:
                    v, t2 = timed(lambda: qgraph_verify(case, data))
                    res.times["verify"].append(t2)
                    res.qgraph = res.qgraph or v
                    log(f"    {label} run {i + 1}: qgraph compile {t:.3f} s, verify {t2:.3f} s")
                except Exception as e:
                    res.errors["verify"] = failure(e)
        if conv_file is not None and "verify_conv" not in res.errors:
            try:
                v, t = timed(lambda: qgraph_verify(case, conv_file))
                res.times["verify_conv"].append(t)
                res.qgraph_conv = res.qgraph_conv or v
                log(f"    {label} run {i + 1}: qgraph verify on the converter's file {t:.3f} s")
            except Exception as e:
                res.errors["verify_conv"] = failure(e)

    def debugger_group(i: int) -> None:
        if "construct" in res.errors or "run" in res.errors:
            return
        try:
            debugger, t = timed(lambda: debugger_construct(case, batch))
            res.times["construct"].append(t)
        except Exception as e:
            res.errors["construct"] = failure(e)
            res.errors["run"] = "not constructed"
            return
        try:
            _, t2 = timed(lambda: debugger_run(debugger))
            res.times["run"].append(t2)
            log(f"    {label} run {i + 1}: debugger construct {t:.3f} s, run {t2:.3f} s (batch {batch})")
        except Exception as e:
            res.errors["run"] = failure(e)
            return
        if "run_batched" not in res.errors:
            try:
                batched = debugger_from_content(debugger, case.debug, res.batched)
                _, t3 = timed(lambda: debugger_run(batched))
                res.times["run_batched"].append(t3)
                log(f"    {label} run {i + 1}: debugger run, batch {res.batched}: {t3:.3f} s")
            except Exception as e:
                res.errors["run_batched"] = failure(e)
        if i == 0:
            try:
                debugger_rankings(case, debugger, res, direct_compare)
            except Exception as e:
                res.errors["rankings"] = failure(e)

    for i in range(repeats):
        groups = (qgraph_group, debugger_group) if i % 2 == 0 else (debugger_group, qgraph_group)
        for group in groups:
            group(i)
    return res


# ---------------------------------------------------------------- tables


def ratio(q: float, d: float) -> str:
    if not (q > 0 and d > 0):
        return "–"
    r = q / d
    return f"**{r:.2f}**" + (f" ({1 / r:.1f}x faster)" if r < 1 else f" ({r:.1f}x slower)")


def rows_for(res: Result, repeats: int) -> list[list[str]]:
    dash = "–"
    label = PRETTY[res.name]
    rows: list[list[str]] = []

    def cell(*steps: str) -> tuple[str, float]:
        for s in steps:
            if s in res.errors:
                return f"fails: {res.errors[s]}", float("nan")
        value = sum(res.median(s) for s in steps)
        return fmt_s(value), value

    def row(metric: str, q: tuple[str, float] | str, d: tuple[str, float] | str, r: str = "") -> None:
        rows.append([label if not rows else "", metric, q if isinstance(q, str) else q[0],
                     d if isinstance(d, str) else d[0], r])  # fmt: skip

    qt, dt = cell("compile", "verify"), cell("construct", "run")
    row(
        f"int8 model + per-layer statistics, s (compile + verify / construct + run), median of {repeats}",
        qt,
        dt,
        ratio(qt[1], dt[1]),
    )
    qv, dr = cell("verify"), cell("run")
    row(
        f"per-layer statistics alone, s (verify / run(), {res.batch} sample(s) per invoke)",
        qv,
        dr,
        ratio(qv[1], dr[1]),
    )
    dbatched = cell("run_batched")
    row(f"per-layer statistics alone, s (verify / run(), {res.batched} per invoke)", qv, dbatched,
        ratio(qv[1], dbatched[1]))  # fmt: skip
    qc = cell("verify_conv")
    row("verify on the converter's int8 file, s (/ run())", qc, dr, ratio(qc[1], dr[1]))
    qcomp, dcons = cell("compile"), cell("construct")
    row(
        "int8 model alone, s (compile / construct: conversion + instrumentation)",
        qcomp,
        dcons,
        ratio(qcomp[1], dcons[1]),
    )

    def count(v: Any) -> str:
        adding = sum(1 for e in v.layers if not math.isinf(e.own_db))
        return f"{len(v.layers)} ({adding} adding error)"

    counts = " / ".join(count(v) if v else dash for v in (res.qgraph, res.qgraph_conv))
    row(
        "layers reported (qgraph: on its file / on the converter's)",
        counts,
        str(res.debugger_layers) if res.debugger_layers else dash,
    )
    row(
        "worst layer (qgraph: own dB on its file; debugger: rmse/scale)",
        qgraph_ranking(res.qgraph).worst() if res.qgraph else dash,
        res.by_step.worst(),
    )
    row(
        "worst layer by own SQNR on the converter's model (qgraph: verify of the converter's file)",
        qgraph_ranking(res.qgraph_conv).worst() if res.qgraph_conv else dash,
        res.by_sqnr.worst(),
    )
    return rows


HEADER = ["Model", "Metric", "qgraph", "QuantizationDebugger", "qgraph / debugger (lower = qgraph faster)"]


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def details(res: Result, top: int) -> list[str]:
    out = [f"{PRETTY[res.name]}:"]
    for step in QGRAPH_STEPS + DEBUGGER_STEPS:
        if res.times.get(step):
            out.append(f"  {step:12s} times (s): " + ", ".join(f"{t:.3f}" for t in res.times[step]))
    if not math.isnan(res.converter_s):
        out.append(f"  converter_int8 alone (the converter's file, reference): {res.converter_s:.3f} s")
    if res.sizes:
        out.append("  file bytes: " + ", ".join(f"{k} {v:,}" for k, v in res.sizes.items()))
    for what, v in (("qgraph's file", res.qgraph), ("converter's file", res.qgraph_conv)):
        if v is not None:
            sq = f"{v.outputs[0].sqnr_db:.2f} dB" if v.outputs else "–"
            agree = v.top1_agreement[0] if v.top1_agreement else None
            out.append(
                f"  verify, {what}: output SQNR {sq}"
                + (f", top-1 agreement {agree:.2%}" if agree is not None else "")
                + f"; {len(v.layers)} layers matched, {len(v.unmatched)} not in the file"
            )
    rankings = [
        ("qgraph verify, qgraph's file, own dB", qgraph_ranking(res.qgraph) if res.qgraph else None),
        (
            "qgraph verify, converter's file, own dB",
            qgraph_ranking(res.qgraph_conv) if res.qgraph_conv else None,
        ),
        ("debugger, rmse/scale (steps)", res.by_step if res.by_step.entries else None),
        ("debugger, own SQNR dB (direct compare)", res.by_sqnr if res.by_sqnr.entries else None),
    ]
    for name, r in rankings:
        if r is not None:
            shown = ", ".join(f"{lab} {val:.2f}" for lab, val in r.entries[:top])
            out.append(f"  worst {top}, {name}: {shown}")
    if res.sqnr_check:
        out.append(f"  {res.sqnr_check}")
    # agreement: where each tool's worst sits in the other's ranking (by Keras layer)
    conv = qgraph_ranking(res.qgraph_conv) if res.qgraph_conv else None
    if conv and conv.entries and res.by_step.entries:
        for name, r in (("rmse/scale", res.by_step), ("own SQNR", res.by_sqnr)):
            if not r.entries:
                continue
            dl = r.entries[0][0].split(" (")[0]
            ql = conv.entries[0][0]
            out.append(
                f"  agreement ({name}): the debugger's worst, {dl}, is #{conv.rank_of(dl) or '–'} of "
                f"{len(conv.entries)} in qgraph's ranking of the converter's file; qgraph's worst, {ql}, is "
                f"#{r.rank_of(ql) or '–'} of {len(r.entries)} in the debugger's"
            )
    out += [f"  {step} failed: {err}" for step, err in res.errors.items()]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="models to measure (default: %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="timed repeats of every step per model; the median is reported (default: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_REPEATS.items())
        + ")",
    )
    p.add_argument(
        "--debugger-batch",
        type=int,
        default=1,
        metavar="B",
        help="debug samples per QuantizationDebugger invoke in the main timing (its debug_dataset "
        "yields [debug[i:i+B]]); must divide the number of debug samples (default: %(default)s, as "
        "in TensorFlow's debugger tutorial)",
    )
    p.add_argument(
        "--no-direct-compare",
        dest="direct_compare",
        action="store_false",
        help="skip the untimed second debugger run that gives its own-SQNR ranking",
    )
    p.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed warm-up calls")
    p.add_argument(
        "--top", type=int, default=5, metavar="K", help="layers listed per ranking in the notes (default: 5)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed for training and the samples (default: %(default)s)"
    )
    p.add_argument("--markdown", metavar="PATH", help="also write the table and notes to PATH")
    args = p.parse_args(argv)
    if (args.repeats is not None and args.repeats < 1) or args.debugger_batch < 1 or args.top < 1:
        p.error("--repeats, --debugger-batch and --top must be >= 1")
    for m in args.models:
        if DEBUG_SAMPLES[m] % args.debugger_batch:
            p.error(
                f"--debugger-batch {args.debugger_batch} does not divide {PRETTY[m]}'s {DEBUG_SAMPLES[m]} debug samples"
            )

    env = environment()
    print("# qgraph verify vs. QuantizationDebugger (per-layer debugging of an int8 model)\n")
    for line in env:
        print(f"- {line}")
    reps = {m: args.repeats or DEFAULT_REPEATS[m] for m in args.models}
    print(
        "- repeats: "
        + ", ".join(f"{PRETTY[m]} {n}" for m, n in reps.items())
        + f"; debugger: {args.debugger_batch} debug sample(s) per invoke; warm-up: "
        + ("one untimed call of every step on a tiny CNN" if args.warmup else "none")
    )
    threads = ", ".join(
        f"{k}={os.environ.get(k, 'unset')}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    )
    print(
        f"- seed {args.seed}; {threads} (numpy's BLAS threads: qgraph.verify's statistics use it)\n",
        flush=True,
    )

    cases = []
    for name in args.models:
        log(f"[{PRETTY[name]}] building the model")
        case = BUILDERS[name](args.seed)
        log(f"  {case.info}")
        cases.append(case)
    if args.warmup:
        warm_up()

    rows: list[list[str]] = []
    notes: list[str] = []
    for case in cases:
        log(f"[{PRETTY[case.name]}] timing ({reps[case.name]} repeat(s))")
        res = measure(case, reps[case.name], args.debugger_batch, args.direct_compare)
        rows += rows_for(res, reps[case.name])
        notes += details(res, args.top)

    env.append(f"load average at end (1/5/15 min): {loadavg()}")
    md = markdown(rows)
    print_report(md, [case.info for case in cases], notes, env, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
