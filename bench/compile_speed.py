"""Compile-speed benchmark: qgraph vs. the TensorFlow Lite converter (float32).

Run from the repository root:

    python bench/compile_speed.py                       # both models, default repeats
    python bench/compile_speed.py --markdown /tmp/t.md  # also write the table to a file

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench_env import environment, fmt_s, loadavg, log  # bench/ is the script's folder

DESCRIPTION = """\
Compare compile (Keras -> .tflite, float32) speed of qgraph against the
TensorFlow Lite converter, in one process, on the same in-memory models.

Models (random weights, weights=None; nothing is downloaded):
  mobilenetv2  keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
  resnet50     keras.applications.ResNet50(weights=None)

For each model, in this order:
  1. qgraph:    qgraph.compile(model, target="cpu", quantize="float").tflite
     one warm-up call (timed and reported as "first call", but not part of
     the median), then --qgraph-repeats timed calls; the median is reported.
  2. converter: tf.lite.TFLiteConverter.from_keras_model(model).convert()
     (building the converter object is inside the timed region), same scheme
     with --converter-repeats timed calls.
  Wall time is measured with time.perf_counter around each call. The first
  call includes one-off tracing / import / JIT costs; a user pays it once per
  process (for the first model; later models in the same process already have
  the libraries loaded, so their "first call" is per-model tracing only).
  Importing TensorFlow / Keras and building the model happen before any
  timing and are not counted for either tool.

Reported per model:
  - first-call and median seconds for each tool, and the speedup
    (converter median / qgraph median);
  - file size of each .tflite and the size ratio (qgraph / converter);
  - number of operators in subgraph 0 of each file (parsed with
    ai_edge_litert.schema_py_generated);
  - correctness: both files are run in ai_edge_litert.interpreter.Interpreter
    on the same seeded random input (uniform in [-1, 1)), and compared with the
    Keras model's own output (model(x, training=False)). "max rel diff" is
    max_i |y_i - k_i| / max(|k_i|, 1e-30) over all output elements, where k is
    the Keras output; "max abs diff" is max_i |y_i - k_i|.
  - a second, stronger correctness check (skip with --no-calibrated-check):
    with weights=None, Keras initialises BatchNormalization to moving mean 0 /
    variance 1, and for MobileNetV2 the activations then shrink to ~1e-11 by
    the last block, so its softmax output is exactly 1/1000 everywhere and the
    check above cannot see any error. After the timings, the benchmark sets
    every BatchNormalization layer's moving mean/variance to the batch
    statistics of one seeded random batch of 8 (momentum 0, one forward pass
    with training=True), compiles the modified model once more with each tool
    (untimed) and repeats the comparison on the same input.

The results are printed to stdout as a Markdown table (with an environment
header: CPU count, Python / TensorFlow / Keras / ai-edge-litert / qgraph
versions); --markdown PATH also writes the table to PATH.
"""

MODELS = ("mobilenetv2", "resnet50")
PRETTY = {"mobilenetv2": "MobileNetV2", "resnet50": "ResNet50"}


@dataclass
class ToolResult:
    first: float = 0.0
    times: list[float] = field(default_factory=list)
    data: bytes = b""
    n_ops: int = 0
    op_types: dict[str, int] = field(default_factory=dict)
    max_rel: float = float("nan")
    max_abs: float = float("nan")
    cal_rel: float = float("nan")
    cal_abs: float = float("nan")
    ref_range: str = ""
    cal_range: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def build_model(name: str, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    if name == "mobilenetv2":
        return keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    if name == "resnet50":
        return keras.applications.ResNet50(weights=None)
    raise ValueError(name)


def qgraph_compile(model) -> bytes:
    import qgraph

    return qgraph.compile(model, target="cpu", quantize="float").tflite


def converter_compile(model) -> bytes:
    import tensorflow as tf

    # Keras' export() prints the SavedModel signature to stdout; keep the
    # benchmark output readable. The redirect costs microseconds.
    with contextlib.redirect_stdout(io.StringIO()):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return converter.convert()


def time_tool(fn: Callable[[Any], bytes], model, repeats: int, label: str) -> ToolResult:
    res = ToolResult()
    t0 = time.perf_counter()
    res.data = fn(model)
    res.first = time.perf_counter() - t0
    log(f"    {label}: first call {res.first:.3f} s")
    for i in range(repeats):
        t0 = time.perf_counter()
        data = fn(model)
        dt = time.perf_counter() - t0
        res.times.append(dt)
        log(f"    {label}: run {i + 1}/{repeats} {dt:.3f} s")
        if data != res.data:
            log(f"    {label}: note: run {i + 1} produced different bytes than the first call")
    return res


def calibrate_batchnorm(model, seed: int) -> int:
    """BatchNorm statistics from one seeded random batch (`qgraph.testing.realistic_statistics`),
    so a randomly initialised model has O(1) activations like a trained one. Returns the
    number of BN layers."""
    import numpy as np

    from qgraph.testing import all_layers, realistic_statistics

    shape = (8,) + tuple(int(d) for d in model.inputs[0].shape[1:])
    realistic_statistics(
        model, np.random.default_rng(seed + 1).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    )
    return sum(type(layer).__name__ == "BatchNormalization" for layer in all_layers(model))


def count_ops(data: bytes) -> tuple[int, dict[str, int]]:
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromPackedBuf(data, 0)
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    types: dict[str, int] = {}
    for op in m.subgraphs[0].operators:
        oc = m.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        name = names.get(code, str(code))
        if name == "CUSTOM":
            name = f"CUSTOM:{oc.customCode!r}"
        types[name] = types.get(name, 0) + 1
    return len(m.subgraphs[0].operators), dict(sorted(types.items()))


def run_tflite(data: bytes, x):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    inp = interp.get_input_details()
    out = interp.get_output_details()
    if len(inp) != 1 or len(out) != 1:
        raise RuntimeError(f"expected 1 input / 1 output, got {len(inp)} / {len(out)}")
    if tuple(inp[0]["shape"]) != x.shape:
        interp.resize_tensor_input(inp[0]["index"], x.shape)
        interp.allocate_tensors()
    interp.set_tensor(inp[0]["index"], x.astype(inp[0]["dtype"]))
    interp.invoke()
    return interp.get_tensor(out[0]["index"]).copy()


def compare(y, ref) -> tuple[float, float]:
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        raise RuntimeError(f"output shape {y.shape} != Keras output shape {ref.shape}")
    diff = np.abs(y - ref)
    return float(np.max(diff / np.maximum(np.abs(ref), 1e-30))), float(np.max(diff))


def fmt_mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def table(results: dict[str, tuple[ToolResult, ToolResult]], args) -> str:
    names = list(results)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, f: Callable[[ToolResult, ToolResult], str]) -> None:
        rows.append((label, [f(*results[n]) for n in names]))

    row("qgraph first call (s)", lambda q, c: fmt_s(q.first))
    row(f"qgraph median of {args.qgraph_repeats} (s)", lambda q, c: fmt_s(q.median))
    row("converter first call (s)", lambda q, c: fmt_s(c.first))
    row(f"converter median of {args.converter_repeats} (s)", lambda q, c: fmt_s(c.median))
    row("**speedup** (converter median / qgraph median)", lambda q, c: f"**{c.median / q.median:.1f}x**")
    row("speedup, first calls (converter / qgraph)", lambda q, c: f"{c.first / q.first:.1f}x")
    row("qgraph .tflite size", lambda q, c: fmt_mb(len(q.data)))
    row("converter .tflite size", lambda q, c: fmt_mb(len(c.data)))
    row("size ratio (qgraph / converter)", lambda q, c: f"{len(q.data) / len(c.data):.4f}")
    row("qgraph operators", lambda q, c: str(q.n_ops))
    row("converter operators", lambda q, c: str(c.n_ops))
    row("qgraph vs Keras: max rel diff", lambda q, c: f"{q.max_rel:.2e}")
    row("converter vs Keras: max rel diff", lambda q, c: f"{c.max_rel:.2e}")
    row("qgraph vs Keras: max abs diff", lambda q, c: f"{q.max_abs:.2e}")
    row("converter vs Keras: max abs diff", lambda q, c: f"{c.max_abs:.2e}")
    row("Keras output range (min .. max)", lambda q, c: q.ref_range)
    if args.calibrated_check:
        row("BN-calibrated: qgraph vs Keras max rel diff", lambda q, c: f"{q.cal_rel:.2e}")
        row("BN-calibrated: converter vs Keras max rel diff", lambda q, c: f"{c.cal_rel:.2e}")
        row("BN-calibrated: qgraph vs Keras max abs diff", lambda q, c: f"{q.cal_abs:.2e}")
        row("BN-calibrated: converter vs Keras max abs diff", lambda q, c: f"{c.cal_abs:.2e}")
        row("BN-calibrated: Keras output range (min .. max)", lambda q, c: q.cal_range)

    header = "| Metric | " + " | ".join(PRETTY[n] for n in names) + " |"
    sep = "|---|" + "---:|" * len(names)
    lines = [header, sep] + [f"| {label} | " + " | ".join(vals) + " |" for label, vals in rows]
    return "\n".join(lines)


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
        "--qgraph-repeats",
        type=int,
        default=5,
        metavar="N",
        help="timed qgraph.compile calls per model after the warm-up (default: %(default)s)",
    )
    p.add_argument(
        "--converter-repeats",
        type=int,
        default=3,
        metavar="N",
        help="timed TFLiteConverter calls per model after the warm-up (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the model weights and the test input (default: %(default)s)",
    )
    p.add_argument(
        "--no-calibrated-check",
        dest="calibrated_check",
        action="store_false",
        help="skip the second correctness check on BN-calibrated weights (saves one "
        "untimed compile per tool and model)",
    )
    p.add_argument("--markdown", metavar="PATH", help="also write the Markdown table to PATH")
    args = p.parse_args(argv)
    if args.qgraph_repeats < 1 or args.converter_repeats < 1:
        p.error("--qgraph-repeats and --converter-repeats must be >= 1")

    import numpy as np

    env = environment()
    print("# qgraph compile-speed benchmark (float32)\n")
    for line in env:
        print(f"- {line}")
    print(
        f"- repeats: qgraph {args.qgraph_repeats}, converter {args.converter_repeats} "
        f"(each after one warm-up call); seed {args.seed}\n",
        flush=True,
    )

    results: dict[str, tuple[ToolResult, ToolResult]] = {}
    for name in args.models:
        log(f"[{PRETTY[name]}] building model")
        model = build_model(name, args.seed)
        log(f"[{PRETTY[name]}] qgraph")
        q = time_tool(qgraph_compile, model, args.qgraph_repeats, "qgraph")
        log(f"[{PRETTY[name]}] TFLiteConverter")
        c = time_tool(converter_compile, model, args.converter_repeats, "converter")

        log(f"[{PRETTY[name]}] correctness check")
        rng = np.random.default_rng(args.seed)
        shape = (1,) + tuple(int(d) for d in model.inputs[0].shape[1:])
        x = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        ref = np.asarray(model(x, training=False))
        q.ref_range = f"{ref.min():.3g} .. {ref.max():.3g}"
        for r in (q, c):
            r.n_ops, r.op_types = count_ops(r.data)
            r.max_rel, r.max_abs = compare(run_tflite(r.data, x), ref)
        if args.calibrated_check:
            n_bn = calibrate_batchnorm(model, args.seed)
            log(f"[{PRETTY[name]}] correctness check with BN-calibrated weights ({n_bn} BN layers)")
            ref = np.asarray(model(x, training=False))
            q.cal_range = f"{ref.min():.3g} .. {ref.max():.3g}"
            for r, fn in ((q, qgraph_compile), (c, converter_compile)):
                r.cal_rel, r.cal_abs = compare(run_tflite(fn(model), x), ref)
        results[name] = (q, c)

    md = table(results, args)
    env.append(f"load average at end (1/5/15 min): {loadavg()}")
    print(md)
    print()
    for name, (q, c) in results.items():
        print(f"{PRETTY[name]} op types:")
        print(f"  qgraph    ({q.n_ops}): " + ", ".join(f"{k} {v}" for k, v in q.op_types.items()))
        print(f"  converter ({c.n_ops}): " + ", ".join(f"{k} {v}" for k, v in c.op_types.items()))
        print("  qgraph times (s):    " + ", ".join(f"{t:.3f}" for t in q.times))
        print("  converter times (s): " + ", ".join(f"{t:.3f}" for t in c.times))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n\n")
            f.write("Environment: " + "; ".join(env) + "\n")
        print(f"\ntable written to {args.markdown}")
    print(f"\n- {env[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
