"""Post-training quantization benchmark: qgraph vs. the TensorFlow Lite converter.

Run from the repository root:

    python bench/ptq.py                             # both models, default repeats
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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench_env import environment, fmt_s, loadavg, log  # bench/ is the script's folder

DESCRIPTION = """\
Compare post-training quantization (Keras -> quantized .tflite) with qgraph against
the TensorFlow Lite converter, in one process, on the same in-memory models and the
SAME calibration samples.

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
                no separate warm-up: the first digits call of each tool also pays
                one-off process costs (tracing, lazy imports); all individual times
                are printed. Training / building the model is not timed.
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

The results are printed to stdout as Markdown (with an environment header: load
average, CPU count, versions); --markdown PATH also writes the tables to PATH.
Progress goes to stderr. --save-dir DIR writes every .tflite there, to compare
files with e.g. python /work/shared/tools/tflite_dump.py FILE.
"""

MODELS = ("digits", "mobilenetv2")
PRETTY = {"digits": "Digits CNN", "mobilenetv2": "MobileNetV2"}
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


def build_mobilenetv2(seed: int) -> Case:
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(224, 224, 3), classifier_activation=None
    )
    n_bn = calibrate_batchnorm(model, seed)
    rng = np.random.default_rng(seed + 2)
    calib = rng.uniform(-1.0, 1.0, size=(100, 224, 224, 3)).astype(np.float32)
    x_eval = rng.uniform(-1.0, 1.0, size=(50, 224, 224, 3)).astype(np.float32)
    case = Case("mobilenetv2", model, calib, x_eval)
    case.keras_out = keras_predict(model, x_eval)
    case.info = (
        f"MobileNetV2: weights=None (seed {seed}), {n_bn} BN layers set to the statistics of 16 random samples; "
        f"calibration = 100 samples uniform in [-1, 1]; SQNR on 50 other samples; Keras logits range "
        f"{case.keras_out.min():.3g} .. {case.keras_out.max():.3g}"
    )
    return case


BUILDERS = {"digits": build_digits, "mobilenetv2": build_mobilenetv2}


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="models to benchmark (default: %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="N",
        help="timed compile calls per tool and mode; the median is reported (default: %(default)s)",
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
        min(args.repeats, args.converter_repeats_mobilenetv2, args.latency_runs, args.instances) < 1
        or args.warmup < 0
    ):
        p.error("repeat counts must be >= 1 (--warmup >= 0)")
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)

    env = environment()
    print("# qgraph post-training quantization benchmark\n")
    for line in env:
        print(f"- {line}")
    print(
        f"- compile repeats: {args.repeats} (converter on MobileNetV2: {args.converter_repeats_mobilenetv2}); "
        f"latency: {args.warmup} warm-up + {args.latency_runs} timed samples per file over {args.instances} "
        f"interpreters each, 1 thread; seed {args.seed}\n",
        flush=True,
    )

    main_rows: list[list[str]] = []
    extra_rows: list[list[str]] = []
    notes: list[str] = []
    infos: list[str] = []
    for name in args.models:
        label = PRETTY[name]
        log(f"[{label}] preparing model")
        case = BUILDERS[name](args.seed)
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
    parts = ["## int8 (full-integer, float I/O)\n", markdown(main_rows)]
    if extra_rows:
        parts += ["\n## MobileNetV2: dynamic-range and float16\n", markdown(extra_rows)]
    md = "\n".join(parts)
    print(md)
    print()
    for line in infos:
        print(f"- {line}")
    print()
    print("\n".join(notes))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n\n")
            f.write("\n".join(f"- {line}" for line in infos) + "\n\n")
            f.write("```\n" + "\n".join(notes) + "\n```\n\n")
            f.write("Environment: " + "; ".join(env) + "\n")
        print(f"\ntables written to {args.markdown}")
    print(f"\n- {env[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
