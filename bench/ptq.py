"""Post-training quantization benchmark: qgraph vs. the TensorFlow Lite converter.

Run from the repository root:

    python bench/ptq.py                             # every table, default repeats
    python bench/ptq.py --only speed --speed-models mobilenetv2 --repeats 1   # quick speed check
    python bench/ptq.py --markdown /tmp/ptq.md      # also write the tables to a file
    python bench/ptq.py --save-dir /tmp/ptq_files   # keep every .tflite for tflite_dump.py

See `--help` for what is measured.
"""

from __future__ import annotations

import os

# Must be set before TensorFlow is imported anywhere (qgraph imports it too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import io
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
Compare post-training quantization (Keras -> quantized .tflite) with qgraph against
the TensorFlow Lite converter, in one process, on the same in-memory models and the
SAME calibration samples. Two parts (--only compare / --only speed; default both):
the qgraph-vs-converter tables (compile time, size, latency, accuracy; --models) and
the int8 compile-speed table (--speed-models), which runs first.

Tools (every call below is inside the timed region, calibration included):
  qgraph     qgraph.compile(model, target="cpu", quantize="int8",
                            representative_data=calib).tflite
             calib is a float32 array (N, H, W, C); float input/output (the default).
  converter  c = tf.lite.TFLiteConverter.from_keras_model(model)
             c.optimizations = [tf.lite.Optimize.DEFAULT]
             c.representative_dataset = lambda: ([s[None]] for s in calib)
             c.convert()
             i.e. the same samples, one at a time; input/output stay float32.
  Second table (MobileNetV2 only, no calibration data):
    dynamic  qgraph quantize="dynamic"  vs converter Optimize.DEFAULT, no dataset
    float16  qgraph quantize="float16"  vs converter Optimize.DEFAULT +
             target_spec.supported_types = [tf.float16]

Models (nothing is downloaded):
  digits       qgraph.demo.train_digits_cnn(epochs=8): a small CNN (BN, ReLU6,
               depthwise conv, concat) trained here on scikit-learn's bundled 8x8
               digits. Calibration: the first 100 training samples. Accuracy: top-1
               on the held-out test split (450 images) run through LiteRT.
  mobilenetv2  keras.applications.MobileNetV2(weights=None, input_shape=(224,224,3),
               classifier_activation=None). With random weights, BatchNormalization's
               moving statistics (mean 0, variance 1) make the activations vanish, so
               first every BN layer gets momentum 0, the model runs once with
               training=True on 16 seeded samples uniform in [-1, 1], and the momentum
               is restored: the moving statistics become that batch's statistics (O(1)
               activations, like a trained model). Calibration: 100 seeded samples
               uniform in [-1, 1]. Quality: SQNR (dB) of the tool's output (logits)
               against the Keras float output, model(x, training=False), on 50 other
               seeded samples; SQNR = 10 log10(sum ref^2 / sum (ref - out)^2) over all
               50 x 1000 logits (qgraph.quant.numerics.sqnr_db).

Measured, per model and tool:
  compile time  wall time (time.perf_counter) of the call above; median of
                --repeats calls (default 3), except the converter on MobileNetV2,
                which is slow: --converter-repeats-mobilenetv2 (default 1). There is
                no separate warm-up: with --only compare, the first digits call of
                each tool also pays one-off process costs (tracing, lazy imports);
                all individual times are printed. Training / building the model is
                not timed.
  size          bytes of the .tflite.
  latency       ai_edge_litert.interpreter.Interpreter(model_content=...,
                num_threads=1), one sample (batch 1): --warmup invokes (default 5),
                then --latency-runs timed samples (default 200), median reported.
                (With 50, the A/A control below differed by up to 2% on a shared
                2-core machine; 200 costs about 10 s more.)
                A sample is one invoke, except for models so small that an invoke
                takes less than 1 ms (the digits CNN: a few microseconds): there a
                sample is the mean of k back-to-back invokes, with k (same for both
                tools) chosen from the warm-up so a sample lasts about 1 ms.
                Each file gets --instances independent interpreters (default 4,
                created in mirrored order), whose samples are pooled: one instance
                can be 1% (MobileNetV2) to 5% (digits CNN) faster or slower than
                another instance of the same file. The
                interpreters are timed round-robin in blocks of 10 samples (the
                order rotates every round), so a change in machine load hits both
                tools alike. An A/A control
                runs alongside: a second, independent interpreter of the
                converter's file. Its ratio to the converter's median (shown as
                "A/A" in the table) is the measurement noise: two identical
                files differing by that much is not a real difference.
  accuracy      digits: top-1 accuracy on the test split (and SQNR of the
                probabilities vs Keras); MobileNetV2: SQNR as above.
  ratios        qgraph / converter for compile time, size and latency (lower is
                better for qgraph); qgraph - converter for accuracy and SQNR.

Project goals checked in the table: compile time ratio < 1, size ratio <= 1.01,
latency ratio <= 1.00, accuracy >= the converter's (digits), SQNR >= the
converter's - 1 dB (MobileNetV2).

int8 compile-speed table (one row per model, 100 calibration samples):
  Models (--speed-models, default all): keras.applications MobileNetV2, ResNet50,
  EfficientNetB0, DenseNet121, each weights=None, input_shape=(224, 224, 3),
  classifier_activation=None, after keras.utils.set_random_seed(--seed); BN
  statistics, calibration samples (the same array for both tools) and SQNR as for
  mobilenetv2 above. EfficientNetB0 keeps its built-in Rescaling + Normalization
  and gets the same [-1, 1] samples.
  qgraph       the int8 call above, 1 + --repeats times per model. "cold" is the
               first call on the model (for the first model: the first
               qgraph.compile of the process; qgraph and TensorFlow are already
               imported and the Keras model has run eagerly); "warm" is the median
               of the --repeats calls after it. The split comes from the call's
               report: load = report.seconds["load"] (Keras model -> graph),
               calibration = the "calibrate" PassRecord's .seconds, passes =
               report.seconds["passes"] - calibration, serialize =
               report.seconds["serialize"] (target checks + flatbuffer); total =
               wall time of the call. Each column is its own median over the warm
               calls, so the parts need not add up to the total exactly.
  converter    the converter call above, --converter-repeats times (default 1);
               median.
  lower bound  what calibration cannot go below: N (100) forward passes, i.e.
               N x the median single-sample invoke of qgraph's float32 file of the
               same model (quantize="float") in ai_edge_litert
               Interpreter(num_threads=1): --warmup invokes, then
               --lower-bound-runs (default 20) timed invokes.
  Columns: speed-up = converter / qgraph warm total; cold / warm = qgraph's cold
  total / warm total; calibration / lower bound and qgraph warm total / lower
  bound; SQNR (dB) of each tool's file (qgraph: the cold call's). A tool that
  raises is shown in its cell ("does not compile: <first line of the error>"),
  its traceback goes to stderr. Goals (issue 12): MobileNetV2 speed-up >= 10x,
  cold / warm <= 1.5.

The results are printed to stdout as Markdown (with an environment header: load
average, CPU count, versions); --markdown PATH also writes the tables to PATH.
Progress goes to stderr. --save-dir DIR writes every .tflite there, to compare
files with e.g. python /work/shared/tools/tflite_dump.py FILE.
"""

MODELS = ("digits", "mobilenetv2")
#: the int8 compile-speed table's models (keras.applications constructors, 224x224).
APPLICATIONS = {
    "mobilenetv2": "MobileNetV2",
    "resnet50": "ResNet50",
    "efficientnetb0": "EfficientNetB0",
    "densenet121": "DenseNet121",
}
PRETTY = {"digits": "Digits CNN", **APPLICATIONS}
TOOLS = ("qgraph", "converter")


@dataclass
class Measure:
    """One tool's result for one model and one quantization mode."""

    times: list[float] = field(default_factory=list)
    data: bytes = b""
    deterministic: bool = True
    latency: list[float] = field(default_factory=list)
    accuracy: float = float("nan")
    sqnr: float = float("nan")
    op_types: dict[str, int] = field(default_factory=dict)
    invokes_per_sample: int = 1
    #: latency samples of a second, independent set of interpreters of the same file (an
    #: A/A control: its ratio to `latency` shows the measurement noise); converter only.
    aa_latency: list[float] = field(default_factory=list)

    @property
    def compile_s(self) -> float:
        return statistics.median(self.times)

    @property
    def latency_ms(self) -> float:
        return statistics.median(self.latency) * 1000


# ---------------------------------------------------------------- compile functions


def qgraph_compile(model, mode: str, calib=None) -> bytes:
    import qgraph

    if mode == "int8":
        return qgraph.compile(model, target="cpu", quantize="int8", representative_data=calib).tflite
    return qgraph.compile(model, target="cpu", quantize=mode).tflite


def converter_compile(model, mode: str, calib=None) -> bytes:
    import tensorflow as tf

    # Keras' export() prints the SavedModel signature to stdout; keep the benchmark
    # output readable. The redirect costs microseconds.
    # The converter also warns ("Statistics for quantized inputs were expected") on every
    # int8 call; that is not news either.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "int8":

            def representative_dataset():
                for sample in calib:
                    yield [sample[None]]

            converter.representative_dataset = representative_dataset
        elif mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif mode != "dynamic":
            raise ValueError(mode)
        return converter.convert()


COMPILERS: dict[str, Callable[..., bytes]] = {"qgraph": qgraph_compile, "converter": converter_compile}


def time_compile(tool: str, model, mode: str, calib, repeats: int, label: str) -> Measure:
    res = Measure()
    for i in range(repeats):
        t0 = time.perf_counter()
        data = COMPILERS[tool](model, mode, calib)
        dt = time.perf_counter() - t0
        res.times.append(dt)
        log(f"    {label} {tool} {mode}: run {i + 1}/{repeats} {dt:.3f} s, {len(data):,} bytes")
        if not res.data:
            res.data = data
        elif data != res.data:
            res.deterministic = False
    res.op_types = count_ops(res.data)
    return res


# ---------------------------------------------------------------- measurements


def make_interpreter(data: bytes, num_threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data, num_threads=num_threads)
    interp.allocate_tensors()
    return interp


def measure_latency(
    results: dict[str, Measure],
    sample,
    warmup: int,
    runs: int,
    instances: int = 4,
    block: int = 10,
    min_sample_s: float = 1e-3,
) -> None:
    """Median single-thread invoke time on one sample, `runs` samples per file.

    Each file gets `instances` independent interpreters (created in mirrored order:
    A B C, C B A, ...), because one interpreter instance can be 1-5% faster or slower
    than another of the same file. The samples of all instances of a file are pooled.
    Interpreters are timed in blocks of `block` samples, round-robin, the order
    rotating every round, so load changes and position effects hit every file alike.

    One timed sample is `k` back-to-back invokes divided by `k`; `k` is 1 for models
    whose invoke takes >= `min_sample_s`, larger for tiny ones (the digits CNN runs in
    microseconds), chosen once from the warm-up so each sample lasts about 1 ms.
    The same k is used for every file."""
    tools = list(results)
    interps: list[tuple[str, Any]] = []
    per_invoke: dict[str, float] = {}
    for i in range(instances):
        for tool in tools if i % 2 == 0 else reversed(tools):
            interp = make_interpreter(results[tool].data)
            inp = interp.get_input_details()[0]
            interp.set_tensor(inp["index"], sample[None].astype(inp["dtype"]))
            t0 = time.perf_counter()
            for _ in range(max(warmup, 1)):
                interp.invoke()
            per_invoke[tool] = min(per_invoke.get(tool, 1e9), (time.perf_counter() - t0) / max(warmup, 1))
            interps.append((tool, interp))
    k = max(1, int(min_sample_s / max(min(per_invoke.values()), 1e-9)))
    for r in results.values():
        r.latency = []
        r.invokes_per_sample = k
    per_instance = -(-runs // instances)  # ceil: every instance gets the same number of samples
    done = 0
    while done < per_instance:
        n = min(block, per_instance - done)
        for tool, interp in interps:
            for _ in range(n):
                t0 = time.perf_counter()
                for _ in range(k):
                    interp.invoke()
                results[tool].latency.append((time.perf_counter() - t0) / k)
        done += n
        interps = interps[1:] + interps[:1]  # rotate, so no interpreter always runs first


def count_ops(data: bytes) -> dict[str, int]:
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromPackedBuf(data, 0)
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    types: dict[str, int] = {}
    for op in m.subgraphs[0].operators:
        oc = m.operatorCodes[op.opcodeIndex]
        name = names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode), "?")
        if name == "CUSTOM":
            name = f"CUSTOM:{oc.customCode!r}"
        types[name] = types.get(name, 0) + 1
    return dict(sorted(types.items()))


def calibrate_batchnorm(model, seed: int, n: int = 16) -> int:
    """BatchNorm statistics from one seeded random batch (`qgraph.testing.realistic_statistics`),
    so a randomly initialised model has realistic activations. Returns the number of BN layers."""
    import numpy as np

    from qgraph.testing import all_layers, realistic_statistics

    shape = (n,) + tuple(int(d) for d in model.inputs[0].shape[1:])
    realistic_statistics(
        model, np.random.default_rng(seed + 1).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    )
    return sum(type(layer).__name__ == "BatchNormalization" for layer in all_layers(model))


def keras_predict(model, x, batch: int = 10):
    import numpy as np

    return np.concatenate(
        [np.asarray(model(x[k : k + batch], training=False)) for k in range(0, len(x), batch)]
    )


# ---------------------------------------------------------------- models


@dataclass
class Case:
    name: str
    model: Any
    calib: Any
    x_eval: Any
    y_eval: Any = None  # labels (digits) or None
    keras_out: Any = None
    keras_acc: float = float("nan")
    info: str = ""


def build_digits(seed: int) -> Case:
    import numpy as np

    from qgraph.demo import train_digits_cnn

    t0 = time.perf_counter()
    model, (x_train, _y_train, x_test, y_test) = train_digits_cnn(epochs=8, seed=seed)
    log(f"  trained in {time.perf_counter() - t0:.1f} s")
    case = Case("digits", model, np.ascontiguousarray(x_train[:100], np.float32), x_test, y_test)
    case.keras_out = keras_predict(model, x_test, batch=150)
    case.keras_acc = float(np.mean(case.keras_out.argmax(1) == y_test))
    case.info = (
        f"Digits CNN: trained 8 epochs (seed {seed}); calibration = first 100 of {len(x_train)} training "
        f"samples; accuracy on {len(x_test)} test samples; Keras float accuracy {case.keras_acc:.2%}"
    )
    return case


def build_application(name: str, seed: int) -> Case:
    """keras.applications model `name` (a key of APPLICATIONS) at 224x224, weights=None, with
    BatchNorm statistics from data, 100 calibration and 50 evaluation samples."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, APPLICATIONS[name])(
        weights=None, input_shape=(224, 224, 3), classifier_activation=None
    )
    n_bn = calibrate_batchnorm(model, seed)
    rng = np.random.default_rng(seed + 2)
    calib = rng.uniform(-1.0, 1.0, size=(100, 224, 224, 3)).astype(np.float32)
    x_eval = rng.uniform(-1.0, 1.0, size=(50, 224, 224, 3)).astype(np.float32)
    case = Case(name, model, calib, x_eval)
    case.keras_out = keras_predict(model, x_eval)
    case.info = (
        f"{APPLICATIONS[name]}: weights=None (seed {seed}), {n_bn} BN layers set to the statistics of 16 "
        f"random samples; calibration = 100 samples uniform in [-1, 1]; SQNR on 50 other samples; Keras "
        f"logits range {case.keras_out.min():.3g} .. {case.keras_out.max():.3g}"
    )
    return case


def evaluate(case: Case, r: Measure) -> None:
    import numpy as np

    from qgraph.demo import run_tflite
    from qgraph.quant.numerics import sqnr_db

    out = run_tflite(r.data, case.x_eval)
    if out.shape != case.keras_out.shape:
        raise RuntimeError(f"output shape {out.shape} != Keras output shape {case.keras_out.shape}")
    r.sqnr = sqnr_db(case.keras_out, out)
    if case.y_eval is not None:
        r.accuracy = float(np.mean(out.argmax(1) == case.y_eval))


def run_mode(case: Case, mode: str, args, label: str) -> dict[str, Measure]:
    results: dict[str, Measure] = {}
    for tool in TOOLS:
        repeats = args.repeats
        if tool == "converter" and case.name == "mobilenetv2":
            repeats = args.converter_repeats_mobilenetv2
        calib = case.calib if mode == "int8" else None
        results[tool] = time_compile(tool, case.model, mode, calib, repeats, label)
    log(f"    {label} {mode}: latency")
    aa = Measure(data=results["converter"].data)
    measure_latency(
        {**results, "converter A/A": aa}, case.x_eval[0], args.warmup, args.latency_runs, args.instances
    )
    results["converter"].aa_latency = aa.latency
    log(f"    {label} {mode}: accuracy")
    for tool, r in results.items():
        evaluate(case, r)
        if args.save_dir:
            path = os.path.join(args.save_dir, f"{case.name}_{mode}_{tool}.tflite")
            with open(path, "wb") as f:
                f.write(r.data)
    return results


# ---------------------------------------------------------------- int8 compile speed (issue 12)


@dataclass
class Speed:
    """One model's row of the int8 compile-speed table."""

    name: str
    n_calib: int = 0
    #: qgraph's first call on this model, then the warm calls: split dicts (see `qgraph_int8_split`).
    cold: dict[str, float] = field(default_factory=dict)
    warm: list[dict[str, float]] = field(default_factory=list)
    qgraph: Measure = field(default_factory=Measure)  # the cold call's file, SQNR
    converter: Measure = field(default_factory=Measure)
    #: single-sample invoke times of qgraph's float32 file (the lower bound's unit).
    float_file: Measure = field(default_factory=Measure)
    errors: dict[str, str] = field(default_factory=dict)  # "qgraph" / "converter" / "lower bound"

    def warm_s(self, key: str) -> float:
        return statistics.median(w[key] for w in self.warm)

    @property
    def lower_bound_s(self) -> float:
        return self.n_calib * statistics.median(self.float_file.latency)


def qgraph_int8_split(model, calib) -> tuple[bytes, dict[str, float]]:
    """One int8 qgraph.compile: the file and its time split from the report (seconds)."""
    import qgraph

    t0 = time.perf_counter()
    r = qgraph.compile(model, target="cpu", quantize="int8", representative_data=calib)
    total = time.perf_counter() - t0
    s = r.report.seconds
    calibration = sum(p.seconds for p in r.report.passes if p.name == "calibrate")
    split = {
        "total": total,
        "load": s["load"],
        "passes": s["passes"] - calibration,
        "calibration": calibration,
        "serialize": s["serialize"],
    }
    return r.tflite, split


def failure(e: BaseException) -> str:
    """Print the current exception's traceback to stderr; return its first line for the table."""
    traceback.print_exc()
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"


def measure_speed(case: Case, args) -> Speed:
    """qgraph cold + --repeats warm int8 compiles, --converter-repeats converter compiles, the
    LiteRT float lower bound and both files' SQNR, for one model. A tool that fails is noted
    in `errors` (first line of the error), not raised."""
    label = PRETTY[case.name]
    sp = Speed(case.name, n_calib=len(case.calib))
    try:
        for i in range(1 + args.repeats):
            data, split = qgraph_int8_split(case.model, case.calib)
            kind = "cold" if i == 0 else f"warm {i}/{args.repeats}"
            log(f"    {label} qgraph int8 {kind}: " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()))
            if i == 0:
                sp.cold, sp.qgraph.data = split, data
            else:
                sp.warm.append(split)
                sp.qgraph.deterministic &= data == sp.qgraph.data
            sp.qgraph.times.append(split["total"])
        evaluate(case, sp.qgraph)
    except Exception as e:  # a model qgraph cannot compile is a row, not the end of the run
        sp.errors["qgraph"] = failure(e)
    try:
        sp.converter = time_compile(
            "converter", case.model, "int8", case.calib, args.converter_repeats, label
        )
        evaluate(case, sp.converter)
    except Exception as e:
        sp.errors["converter"] = failure(e)
    try:
        import qgraph

        sp.float_file.data = qgraph.compile(case.model, target="cpu", quantize="float").tflite
        measure_latency({"float": sp.float_file}, case.x_eval[0], args.warmup, args.lower_bound_runs, 1)
        log(
            f"    {label} LiteRT float invoke: median {statistics.median(sp.float_file.latency) * 1000:.2f} ms"
        )
    except Exception as e:
        sp.errors["lower bound"] = failure(e)
    if args.save_dir:
        for tool, m in (("qgraph", sp.qgraph), ("converter", sp.converter), ("qgraph_float", sp.float_file)):
            if m.data:
                with open(os.path.join(args.save_dir, f"{case.name}_speed_{tool}.tflite"), "wb") as f:
                    f.write(m.data)
    return sp


# ---------------------------------------------------------------- environment (as compile_speed.py)


# ---------------------------------------------------------------- tables


def fmt_size(n: int) -> str:
    return f"{n / 1e6:.3f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def fmt_ms(t: float) -> str:
    """A latency given in milliseconds, in µs below 1 ms."""
    return f"{t * 1000:.2f} µs" if t < 1 else f"{t:.2f} ms"


def yes_no(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def rows_for(
    label: str, mode: str, q: Measure, c: Measure, nq: int, nc: int, digits: bool
) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(metric: str, qv: str, cv: str, ratio: str, goal: str = "", met: str = "") -> None:
        rows.append([label, mode, metric, qv, cv, ratio, goal, met])

    t_ratio = q.compile_s / c.compile_s
    t_text = f"{t_ratio:.3f} ({1 / t_ratio:.1f}x faster)" if t_ratio < 1 else f"{t_ratio:.3f}"
    row(
        f"compile time (s), median of {nq} / {nc}",
        fmt_s(q.compile_s),
        fmt_s(c.compile_s),
        t_text,
        "< 1",
        yes_no(t_ratio < 1),
    )
    s_ratio = len(q.data) / len(c.data)
    row(
        "file size",
        fmt_size(len(q.data)),
        fmt_size(len(c.data)),
        f"{s_ratio:.4f}",
        "<= 1.01",
        yes_no(s_ratio <= 1.01),
    )
    l_ratio = q.latency_ms / c.latency_ms
    aa = statistics.median(c.aa_latency) * 1000 / c.latency_ms if c.aa_latency else float("nan")
    # Judged at the precision shown (3 decimals), so "1.000" never reads as a miss.
    l_shown, aa_shown = round(l_ratio, 3), round(aa, 3)
    met = yes_no(l_shown <= 1.0)
    if l_shown > 1.0 and l_shown - 1.0 <= abs(aa_shown - 1.0) + 1e-9:
        met = "no, but within the A/A noise"
    row(
        "latency, 1 thread, median",
        fmt_ms(q.latency_ms),
        fmt_ms(c.latency_ms),
        f"{l_ratio:.3f} (A/A {aa:.3f})",
        "<= 1.00",
        met,
    )
    if digits:
        d = (q.accuracy - c.accuracy) * 100
        row("test accuracy", f"{q.accuracy:.2%}", f"{c.accuracy:.2%}", f"{d:+.2f} pp", ">= 0", yes_no(d >= 0))
        row(
            "SQNR of probabilities vs Keras (dB)",
            f"{q.sqnr:.2f}",
            f"{c.sqnr:.2f}",
            f"{q.sqnr - c.sqnr:+.2f} dB",
        )
    else:
        d = q.sqnr - c.sqnr
        row(
            "SQNR vs Keras (dB)",
            f"{q.sqnr:.2f}",
            f"{c.sqnr:.2f}",
            f"{d:+.2f} dB",
            ">= -1 dB",
            yes_no(d >= -1.0),
        )
    return rows


def markdown(rows: list[list[str]]) -> str:
    header = [
        "Model",
        "Mode",
        "Metric",
        "qgraph",
        "converter",
        "qgraph / converter (or difference)",
        "goal",
        "met",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|---:|---:|---:|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def details(label: str, mode: str, q: Measure, c: Measure) -> list[str]:
    out = [f"{label}, {mode}:"]
    for tool, r in (("qgraph", q), ("converter", c)):
        out.append(
            f"  {tool:9s} compile times (s): {', '.join(f'{t:.3f}' for t in r.times)}"
            f"{'' if r.deterministic else '  (repeats produced different bytes)'}; "
            f"{len(r.data):,} bytes; latency p25/p50/p75 "
            + "/".join(fmt_ms(1000 * v) for v in statistics.quantiles(r.latency, n=4))
            + f" ({r.invokes_per_sample} invoke(s) per sample)"
            + (
                f", A/A interpreters median {fmt_ms(statistics.median(r.aa_latency) * 1000)}"
                if r.aa_latency
                else ""
            )
            + f"; {sum(r.op_types.values())} ops: "
            + ", ".join(f"{k} {v}" for k, v in r.op_types.items())
        )
    return out


SPEED_HEADER = [
    "Model",
    "converter s",
    "qgraph warm total s",
    "load",
    "passes (excl. calibration)",
    "calibration",
    "serialize",
    "speed-up (converter / qgraph warm)",
    "qgraph cold s",
    "cold / warm",
    "lower bound s (N x LiteRT float invoke)",
    "calibration / lower bound",
    "qgraph warm total / lower bound",
    "SQNR converter dB",
    "SQNR qgraph dB",
]


def speed_row(sp: Speed) -> list[str]:
    dash = "–"
    c = dash
    if "converter" in sp.errors:
        c = f"fails: {sp.errors['converter']}"
    elif sp.converter.times:
        c = fmt_s(sp.converter.compile_s)
    lb = float("nan") if "lower bound" in sp.errors else sp.lower_bound_s
    lb_text = f"fails: {sp.errors['lower bound']}" if "lower bound" in sp.errors else fmt_s(lb)
    c_sqnr = dash if "converter" in sp.errors else f"{sp.converter.sqnr:.2f}"
    if "qgraph" in sp.errors:
        return [
            PRETTY[sp.name],
            c,
            f"does not compile: {sp.errors['qgraph']}",
            *[dash] * 7,  # load .. cold / warm
            lb_text,
            dash,
            dash,
            c_sqnr,
            dash,
        ]
    warm = sp.warm_s("total")
    speedup = f"**{sp.converter.compile_s / warm:.1f}x**" if "converter" not in sp.errors else dash
    return [
        PRETTY[sp.name],
        c,
        fmt_s(warm),
        *(fmt_s(sp.warm_s(k)) for k in ("load", "passes", "calibration", "serialize")),
        speedup,
        fmt_s(sp.cold["total"]),
        f"{sp.cold['total'] / warm:.2f}",
        lb_text,
        f"{sp.warm_s('calibration') / lb:.2f}",
        f"{warm / lb:.2f}",
        c_sqnr,
        f"{sp.qgraph.sqnr:.2f}",
    ]


def speed_markdown(speeds: list[Speed]) -> str:
    lines = ["| " + " | ".join(SPEED_HEADER) + " |", "|---|" + "---:|" * (len(SPEED_HEADER) - 1)]
    lines += ["| " + " | ".join(speed_row(sp)) + " |" for sp in speeds]
    goals = []
    mnv2 = next((sp for sp in speeds if sp.name == "mobilenetv2"), None)
    if mnv2 is None:
        goals.append("MobileNetV2 speed-up >= 10x: not measured in this run")
    elif mnv2.errors.keys() & {"qgraph", "converter"}:
        goals.append("MobileNetV2 speed-up >= 10x: **NO** (a tool failed)")
    else:
        r = mnv2.converter.compile_s / mnv2.warm_s("total")
        goals.append(f"MobileNetV2 speed-up >= 10x: {yes_no(r >= 10)} ({r:.1f}x)")
    ratios = [sp.cold["total"] / sp.warm_s("total") for sp in speeds if "qgraph" not in sp.errors]
    if ratios:
        goals.append(
            f"qgraph cold / warm <= 1.5 for every model: {yes_no(max(ratios) <= 1.5)} (max {max(ratios):.2f})"
        )
    return "\n".join(lines) + "\n\nGoal: " + "; ".join(goals) + "."


def speed_details(sp: Speed) -> list[str]:
    out = [f"{PRETTY[sp.name]}, int8 compile speed ({sp.n_calib} calibration samples):"]
    for kind, splits in (("cold", [sp.cold] if sp.cold else []), ("warm", sp.warm)):
        for s in splits:
            out.append(f"  qgraph {kind:4s} " + ", ".join(f"{k} {v:.3f}" for k, v in s.items()) + " s")
    if sp.qgraph.data:
        out.append(
            f"  qgraph file {len(sp.qgraph.data):,} bytes"
            f"{'' if sp.qgraph.deterministic else ' (warm calls produced different bytes)'}"
        )
    if sp.converter.times:
        out.append(
            f"  converter compile times (s): {', '.join(f'{t:.3f}' for t in sp.converter.times)}; "
            f"file {len(sp.converter.data):,} bytes"
        )
    if sp.float_file.latency:
        out.append(
            "  LiteRT float32 invoke (qgraph float file, 1 thread) p25/p50/p75: "
            + "/".join(fmt_ms(1000 * v) for v in statistics.quantiles(sp.float_file.latency, n=4))
            + f" over {len(sp.float_file.latency)} invokes"
        )
    out += [f"  {tool} failed: {err}" for tool, err in sp.errors.items()]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="models of the qgraph-vs-converter tables (default: %(default)s)",
    )
    p.add_argument(
        "--speed-models",
        nargs="+",
        choices=APPLICATIONS,
        default=list(APPLICATIONS),
        help="models of the int8 compile-speed table (default: %(default)s)",
    )
    p.add_argument(
        "--only",
        choices=("compare", "speed"),
        help="run only the qgraph-vs-converter tables (compare) or only the int8 compile-speed "
        "table (speed); default: both",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="N",
        help="timed compile calls per tool and mode; the median is reported. In the compile-speed "
        "table: qgraph's warm calls, after its cold one (default: %(default)s)",
    )
    p.add_argument(
        "--converter-repeats",
        type=int,
        default=1,
        metavar="N",
        help="timed converter calls per model in the compile-speed table, 7-60 s each on a 2-core "
        "machine; the median is reported (default: %(default)s)",
    )
    p.add_argument(
        "--lower-bound-runs",
        type=int,
        default=20,
        metavar="N",
        help="timed single-sample LiteRT invokes of the float32 file per model, after --warmup; "
        "the median x the calibration samples is the lower bound (default: %(default)s)",
    )
    p.add_argument(
        "--converter-repeats-mobilenetv2",
        type=int,
        default=1,
        metavar="N",
        help="timed converter calls on MobileNetV2, which take 7-12 s each on a 2-core machine "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=5,
        metavar="N",
        help="untimed LiteRT invokes before the latency runs (default: %(default)s)",
    )
    p.add_argument(
        "--latency-runs",
        type=int,
        default=200,
        metavar="N",
        help="timed LiteRT latency samples per file (one invoke each, or the mean of k invokes for "
        "sub-millisecond models); the median is reported (default: %(default)s)",
    )
    p.add_argument(
        "--instances",
        type=int,
        default=4,
        metavar="N",
        help="independent LiteRT interpreters per file for the latency; their samples are pooled "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--no-extra-modes",
        dest="extra_modes",
        action="store_false",
        help="skip the second table (dynamic and float16 on MobileNetV2)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for training, random weights and the random samples (default: %(default)s)",
    )
    p.add_argument("--save-dir", metavar="DIR", help="write every .tflite to DIR (created if needed)")
    p.add_argument("--markdown", metavar="PATH", help="also write the Markdown tables to PATH")
    args = p.parse_args(argv)
    if (
        min(
            args.repeats,
            args.converter_repeats_mobilenetv2,
            args.converter_repeats,
            args.latency_runs,
            args.lower_bound_runs,
            args.instances,
        )
        < 1
        or args.warmup < 0
    ):
        p.error("repeat counts must be >= 1 (--warmup >= 0)")
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)

    env = environment()
    print("# qgraph post-training quantization benchmark\n")
    for line in env:
        print(f"- {line}")
    if args.only != "speed":
        print(
            f"- compile repeats: {args.repeats} (converter on MobileNetV2: "
            f"{args.converter_repeats_mobilenetv2}); latency: {args.warmup} warm-up + {args.latency_runs} "
            f"timed samples per file over {args.instances} interpreters each, 1 thread"
        )
    if args.only != "compare":
        print(
            f"- int8 compile speed: qgraph 1 cold + {args.repeats} warm calls, converter "
            f"{args.converter_repeats} call(s) per model; lower bound: {args.warmup} warm-up + "
            f"{args.lower_bound_runs} timed LiteRT float invokes, 1 thread"
        )
    print(f"- seed {args.seed}\n", flush=True)

    infos: list[str] = []
    # The speed table runs first, so its first qgraph call is the first of the process (cold).
    speeds: list[Speed] = []
    for name in args.speed_models if args.only != "compare" else []:
        log(f"[{PRETTY[name]}] int8 compile speed: preparing model")
        case = build_application(name, args.seed)
        infos.append(case.info)
        log(f"  {case.info}")
        speeds.append(measure_speed(case, args))
        del case

    main_rows: list[list[str]] = []
    extra_rows: list[list[str]] = []
    notes: list[str] = []
    for name in args.models if args.only != "speed" else []:
        label = PRETTY[name]
        log(f"[{label}] preparing model")
        case = build_digits(args.seed) if name == "digits" else build_application(name, args.seed)
        if case.info not in infos:  # MobileNetV2 is the same model in both parts
            infos.append(case.info)
        log(f"  {case.info}")
        nc = args.converter_repeats_mobilenetv2 if name == "mobilenetv2" else args.repeats
        modes = ["int8"] + (["dynamic", "float16"] if name == "mobilenetv2" and args.extra_modes else [])
        for mode in modes:
            log(f"[{label}] {mode}")
            res = run_mode(case, mode, args, label)
            q, c = res["qgraph"], res["converter"]
            rows = rows_for(label, mode, q, c, args.repeats, nc, digits=name == "digits")
            (main_rows if mode == "int8" else extra_rows).extend(rows)
            notes += details(label, mode, q, c)
        del case

    env.append(f"load average at end (1/5/15 min): {loadavg()}")
    parts = ["## int8 (full-integer, float I/O)\n", markdown(main_rows)] if main_rows else []
    if extra_rows:
        parts += ["\n## MobileNetV2: dynamic-range and float16\n", markdown(extra_rows)]
    if speeds:
        n_calib = speeds[0].n_calib
        parts += [f"\n## int8 compile speed ({n_calib} calibration samples)\n", speed_markdown(speeds)]
        notes += [line for sp in speeds for line in speed_details(sp)]
    md = "\n".join(parts).lstrip("\n")
    print_report(md, infos, notes, env, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
