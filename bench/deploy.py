"""Deployment benchmark: what pruning, clustering and PCQAT buy on an Arm Ethos-U55 NPU (Vela's
figures) and in LiteRT with TFLite's sparse weight encoding, for qgraph's files and the TFLite
converter's files of the same trained weights.

Run from the repository root:

    python bench/deploy.py                         # all four models (about 22 minutes on 2 cores)
    python bench/deploy.py --quick                 # smoke run (1 epoch, a few steps)
    python bench/deploy.py --models mobilenetv2_035 dscnn --markdown /tmp/deploy.md

See `--help` for what is measured.
"""

from __future__ import annotations

import os

# Must be set before TensorFlow is imported anywhere (qgraph imports it too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench_env import environment, fmt_s, loadavg, log  # bench/ is the script's folder
from collab import dscnn_l, upsample_bilinear

DESCRIPTION = """\
Deployment figures of pruned, clustered and PCQAT models: Arm Vela's estimate for an
Ethos-U55-128 and LiteRT's file sizes and latencies with sparse weights, for qgraph's
own files and for the TFLite converter's files of the same trained weights.

Models (--models; nothing is downloaded; all trained here on scikit-learn's bundled
8x8 digits, qgraph.demo.digits_data(seed): 1347 training / 450 test images):
  mobilenetv2_035       keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3),
                        weights=None, classes=10); each digit bilinearly upsampled to 96x96
                        (bench/collab.py's upsample_bilinear), repeated to 3 channels,
                        scaled from [0, 16] to [-1, 1]
  mobilenetv2_035_1000  the same with Keras' default 1000-class head (classes=1000), the
                        configuration of the issue's reference numbers (base 1764 KiB /
                        4.18 ms): its 1280x1000 FULLY_CONNECTED holds most of the weights.
                        Trained on the same 10 labels (the other 990 outputs never win).
  mobilenetv2_100       alpha=1.0, otherwise as mobilenetv2_035
  dscnn                 DS-CNN-L in the Arm ML-Zoo keyword-spotting layout (bench/collab.py's
                        dscnn_l), input (49, 10, 1): digits upsampled to 49x10, divided by 16
  MobileNetV2's BatchNormalization momentum is set to 0.9 before training: Keras' 0.999
  leaves the moving statistics near their initial values after the few hundred steps
  of this run, and the float model would then be near chance at inference.

Variants (rows), every one through qgraph's API (Keras 3):
  baseline  the float model: --float-epochs epochs, Adam(--float-lr), batch --batch-size
  pruned    qgraph.prune(baseline, sparsity=0.5, block=(1, 16)) (constant schedule, 50%
            from step 0; Conv kernels element by element, Dense kernels in 1x16 blocks,
            the blocks LiteRT's sparse int8 FULLY_CONNECTED kernel skips; depthwise
            kernels are not pruned), fine-tuned --prune-steps steps at Adam(--finetune-lr)
  clustered qgraph.cluster(baseline, clusters=16) (k-means++, per tensor), fine-tuned
            --cluster-steps steps at Adam(--cluster-lr)
  PCQAT     qgraph.cluster(pruned, clusters=8, preserve_sparsity=True), fine-tuned
            --cluster-steps steps at Adam(--cluster-lr); then
            qgraph.quantize_model(pc, preserve=("sparsity", "clusters")), fine-tuned
            --qat-steps steps at Adam(--qat-lr)
  A fine-tune step is one batch; batches walk a seeded permutation of the training set.

Tools (two rows per variant):
  qgraph     int8: qgraph.compile(m, target="ethos-u", accelerator_config="ethos-u55-128",
             vela=True, representative_data=calib) (PCQAT: no calibration, int8 from the
             learned ranges): full int8, int8 I/O, Vela run by the target.
             Sparse comparison: qgraph.compile(m, target="cpu", quantize="int8",
             io_dtype="int8", representative_data=calib) with and without sparse=True, and
             qgraph.compile(m, target="cpu", quantize="float") with and without sparse=True.
  converter  tf.lite.TFLiteConverter.from_keras_model(k) on the same trained weights:
             k = the baseline model itself; for the other variants
             qgraph.to_keras(qgraph.load(m)), the constrained weights in plain Keras layers
             (the converter cannot translate the training layers of qgraph's clustered and
             QAT models: tf.BitwiseAnd, FakeQuantWithMinMaxVarsPerChannel under int8 ops).
             int8: optimizations=[DEFAULT], representative_dataset = calib one sample at a
             time, supported_ops=[TFLITE_BUILTINS_INT8], inference_input_type =
             inference_output_type = tf.int8 (PTQ for every variant, PCQAT included), then
             qgraph.plugins.vela.run_vela(file, "ethos-u55-128"). Sparse: the same int8
             conversion with optimizations=[DEFAULT, EXPERIMENTAL_SPARSITY]; float32 with
             no optimizations and with [EXPERIMENTAL_SPARSITY].
  calib = the first --calib training samples. A failed call is a cell "failed: <first
  line>"; its traceback goes to stderr.

Columns:
  Keras acc       top-1 of the Keras model on the test split (float; PCQAT: the
                  fake-quant QAT model; converter: the model it was given)
  int8 acc        top-1 of the int8 file (qgraph: the ethos-u file) in LiteRT
                  (qgraph.demo.accuracy_in_litert: int8 I/O quantized with the file's own
                  parameters)
  NPU %           Vela's NPU operators / (NPU + CPU operators), after Vela's rewrites
  Flash KiB       Vela's off-chip + on-chip flash use: weights as Vela encodes them
                  (it compresses them) and the command stream
  SRAM KiB        Vela's SRAM use (activations, weight buffers)
  est. ms         Vela's estimated inference time on Ethos-U55-128 at 500 MHz
                  (Ethos_U55_High_End_Embedded, Shared_Sram; Vela's defaults)
  zeros / values  of the int8 file's CONV_2D and FULLY_CONNECTED weights
                  (qgraph.compress.stats.weight_stats(qgraph.load(file))): the smallest
                  share of zeros in one tensor / the most distinct int8 values in one
                  output channel (depthwise kernels are neither pruned nor clustered)
  int8 B d / s    bytes of the int8 file dense / with sparse encoding
  int8 ms d / s   LiteRT latency of those two files
  f32 B d / s     bytes of the float32 file dense / with sparse encoding (LiteRT runs
                  sparse conv weights only through DENSIFY, a float-only op)
  f32 ms d / s    LiteRT latency of those two files
  Latency: ai_edge_litert Interpreter(num_threads=1, default delegates: XNNPACK), one
  test sample, --warmup invokes each, then --runs timed invokes per file in blocks of 5
  alternating between the dense and the sparse file; the median in ms.
  "n/a (sparse=True not available)" when this qgraph has no sparse option.
  Under each table: whether each sparse file's outputs equal its dense file's on the
  first --check test samples (max |difference| of the dequantized probabilities).
Ratios: each variant's Flash and est. ms over its tool's baseline; "no fine-tune" is
the same constraint set on the trained baseline's weights without training (qgraph,
PTQ): what the constraints alone give.
Criterion (the issue's): the PCQAT file of MobileNetV2-0.35 needs <= 0.4x the
baseline's Vela Flash and <= 0.5x its est. ms; PASS/FAIL is printed per 0.35 model.

The environment header and the Markdown tables go to stdout, progress to stderr;
--markdown PATH also writes the tables to PATH; --save-tflite DIR keeps every file.
"""

ACCELERATOR = "ethos-u55-128"
VARIANTS = (
    ("baseline", "baseline"),
    ("pruned", "pruned 50%"),
    ("clustered", "clustered 16"),
    ("pcqat", "PCQAT"),
)
TOOLS = ("qgraph", "converter")
FLASH_LIMIT, TIME_LIMIT = 0.4, 0.5
NO_SPARSE = "n/a (sparse=True not available)"


@dataclass(frozen=True)
class ModelSpec:
    title: str
    alpha: float | None  # MobileNetV2 width; None: DS-CNN-L
    classes: int = 10


MODELS = {
    "mobilenetv2_035": ModelSpec("MobileNetV2 alpha 0.35, 96x96, 10 classes", 0.35),
    "mobilenetv2_035_1000": ModelSpec("MobileNetV2 alpha 0.35, 96x96, 1000-class head", 0.35, 1000),
    "mobilenetv2_100": ModelSpec("MobileNetV2 alpha 1.0, 96x96, 10 classes", 1.0),
    "dscnn": ModelSpec("DS-CNN-L (Arm ML-Zoo KWS layout, 49x10x1)", None),
}


# ----------------------------------------------------------------------------- failures


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 160 else text[:157] + "..."


def failed(what: str, exc: BaseException) -> str:
    """Log the traceback (the converter's messages carry whole MLIR dumps: clipped) and return
    the table cell."""
    message = "\n".join(str(exc).splitlines()[:15])
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log(f"[{what}] failed:\n{frames}{type(exc).__name__}: {message}")
    return f"failed: {first_line(exc)}"


def attempt(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 -- a failed step is a table cell, never a crashed bench
        return failed(what, e)


@contextlib.contextmanager
def stdout_to_stderr():
    """The converter prints from C++ straight to file descriptor 1; keep stdout for the tables."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# ----------------------------------------------------------------------------- models and data


def build(key: str):
    import keras

    spec = MODELS[key]
    if spec.alpha is None:
        return dscnn_l()
    model = keras.applications.MobileNetV2(
        alpha=spec.alpha, input_shape=(96, 96, 3), weights=None, classes=spec.classes
    )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # see --help: 0.999 needs thousands of steps
    return model


def load_data(key: str, seed: int):
    import numpy as np

    from qgraph.demo import digits_data

    x_train, y_train, x_test, y_test = digits_data(seed)

    def shaped(x):
        if MODELS[key].alpha is None:
            return upsample_bilinear(x, 49, 10) / np.float32(16.0)
        return np.repeat(upsample_bilinear(x, 96, 96), 3, axis=-1) / np.float32(8.0) - np.float32(1.0)

    return shaped(x_train), y_train, shaped(x_test), y_test


def fit(model, x, y, lr: float, batch_size: int, seed: int, epochs: int = 1, steps: int | None = None):
    """`epochs` over the training set, or `steps` batches of a seeded permutation (repeated)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    if steps is None:
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
        return model
    if steps <= 0:
        return model
    order = np.random.default_rng(seed).permutation(len(x))
    picked = np.resize(order, steps * batch_size)
    model.fit(x[picked], y[picked], epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
    return model


def keras_accuracy(model, x, y) -> float:
    import numpy as np

    return float(np.mean(model.predict(x, verbose=0, batch_size=64).argmax(1) == y))


# ----------------------------------------------------------------------------- files and figures


def sparse_available() -> bool:
    from qgraph.pipeline import PassManager

    return "sparse" in PassManager.from_plugins().declared_options()


def qgraph_files(model, calib, qat: bool, sparse: bool) -> dict[str, Any]:
    """qgraph's ethos-u file (with Vela's figures) and its cpu int8 / float32 files, dense and sparse."""
    import qgraph

    data = {} if qat else {"representative_data": calib}
    files: dict[str, Any] = {}
    ethos = attempt(
        "qgraph ethos-u",
        lambda: qgraph.compile(model, target="ethos-u", accelerator_config=ACCELERATOR, vela=True, **data),
    )
    files["ethos"] = ethos if isinstance(ethos, str) else ethos.tflite
    files["vela"] = ethos if isinstance(ethos, str) else ethos.report.figures["vela"]
    int8 = {"quantize": "int8", "io_dtype": "int8", **data}
    for name, options in (("int8", int8), ("f32", {"quantize": "float"})):
        files[name] = attempt(f"qgraph {name}", lambda o=options: qgraph.compile(model, **o).tflite)
        files[name + "_sparse"] = (
            attempt(f"qgraph {name} sparse", lambda o=options: qgraph.compile(model, sparse=True, **o).tflite)
            if sparse
            else NO_SPARSE
        )
    return files


def converter_files(model, calib) -> dict[str, Any]:
    """The converter's int8 file (through Vela) and its int8 / float32 files, dense and sparse."""
    import tensorflow as tf

    from qgraph.plugins.vela import run_vela

    def convert(int8: bool, sparse: bool) -> bytes:
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT] if int8 else []
        if sparse:
            c.optimizations.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
        if int8:
            c.representative_dataset = lambda: ([s[None]] for s in calib)
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            c.inference_input_type = c.inference_output_type = tf.int8
        with stdout_to_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return c.convert()

    files: dict[str, Any] = {}
    for name, int8 in (("int8", True), ("f32", False)):
        files[name] = attempt(f"converter {name}", lambda i=int8: convert(i, False))
        files[name + "_sparse"] = attempt(f"converter {name} sparse", lambda i=int8: convert(i, True))
    files["ethos"] = files["int8"]

    def vela() -> dict[str, Any]:
        if isinstance(files["int8"], str):
            raise RuntimeError("no int8 file")
        result = run_vela(files["int8"], ACCELERATOR)
        return {"npu_ops": result.npu_ops, "cpu_ops": result.cpu_ops, **result.figures}

    files["vela"] = attempt("converter vela", vela)
    return files


def kernel_constraints(data: bytes) -> str:
    """Smallest share of zeros / most distinct values per channel over CONV_2D and FC weights."""
    import qgraph
    from qgraph.compress.stats import weight_stats

    stats = [s for s in weight_stats(qgraph.load(data)) if s.op_type in ("CONV_2D", "FULLY_CONNECTED")]
    return f"{min(s.sparsity for s in stats):.1%} / {max(s.distinct_per_channel for s in stats)}"


def paired_latency_ms(dense: bytes, sparse: bytes, sample, runs: int, warmup: int) -> tuple[float, float]:
    """Median single-thread invoke time of two files, timed in alternating blocks of 5 invokes
    so that a change in machine load hits both alike."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interps = []
    for data in (dense, sparse):
        interp = Interpreter(model_content=data, num_threads=1)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        x = sample[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
        for _ in range(warmup):
            interp.invoke()
        interps.append(interp)
    times: list[list[float]] = [[], []]
    while len(times[1]) < runs:
        for i, interp in enumerate(interps):
            for _ in range(5):
                t0 = time.perf_counter()
                interp.invoke()
                times[i].append(time.perf_counter() - t0)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3


def max_difference(dense: bytes, sparse: bytes, x) -> float:
    """Largest |difference| between the two files' (dequantized) outputs on `x`."""
    import numpy as np

    from qgraph.demo import accuracy_in_litert

    return float(
        np.max(np.abs(accuracy_in_litert(dense, x, None)[1] - accuracy_in_litert(sparse, x, None)[1]))
    )


def figures(files: dict[str, Any], x_test, y_test, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """The table's cells for one tool's files."""
    from qgraph.demo import accuracy_in_litert

    row: dict[str, Any] = {}
    ethos, vela = files["ethos"], files["vela"]
    if isinstance(ethos, str):
        row["int8_acc"] = row["constraints"] = ethos
    else:
        row["int8_acc"] = attempt(
            f"{tag} int8 acc", lambda: f"{accuracy_in_litert(ethos, x_test, y_test)[0]:.2%}"
        )
        row["constraints"] = attempt(f"{tag} weight stats", lambda: kernel_constraints(ethos))
    row["vela"] = vela
    for name in ("int8", "f32"):
        dense, sparse = files[name], files[name + "_sparse"]
        row[name + "_bytes"] = (dense, sparse)
        if isinstance(dense, str) or isinstance(sparse, str):
            row[name + "_ms"] = sparse if isinstance(sparse, str) else dense
            continue
        row[name + "_diff"] = attempt(
            f"{tag} {name} sparse vs dense",
            lambda d=dense, s=sparse: max_difference(d, s, x_test[: args.check]),
        )
        row[name + "_ms"] = attempt(
            f"{tag} {name} latency",
            lambda d=dense, s=sparse: paired_latency_ms(d, s, x_test[0], args.runs, args.warmup),
        )
    return row


def save(args: argparse.Namespace, key: str, variant: str, tool: str, files: dict[str, Any]) -> None:
    if not args.save_tflite:
        return
    os.makedirs(args.save_tflite, exist_ok=True)
    for name in ("ethos", "int8", "int8_sparse", "f32", "f32_sparse"):
        if isinstance(files.get(name), bytes) and not (name == "ethos" and files[name] is files["int8"]):
            with open(os.path.join(args.save_tflite, f"{key}_{variant}_{tool}_{name}.tflite"), "wb") as f:
                f.write(files[name])


# ----------------------------------------------------------------------------- one model


def run_model(key: str, args: argparse.Namespace, sparse: bool) -> dict[str, Any]:
    import keras

    import qgraph

    t_model = time.perf_counter()
    timings: dict[str, float] = {}
    x_train, y_train, x_test, y_test = load_data(key, args.seed)
    calib = x_train[: args.calib]

    def tune(model, steps: int, lr: float):
        return fit(model, x_train, y_train, lr, args.batch_size, args.seed, steps=steps)

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return out

    log(f"[{key}] training the baseline: {args.float_epochs} epochs")
    keras.utils.set_random_seed(args.seed)
    baseline = timed(
        "train baseline",
        lambda: fit(
            build(key), x_train, y_train, args.float_lr, args.batch_size, args.seed, args.float_epochs
        ),
    )

    def pcqat():
        pc = tune(
            qgraph.cluster(models["pruned"], clusters=8, preserve_sparsity=True),
            args.cluster_steps,
            args.cluster_lr,
        )
        return tune(qgraph.quantize_model(pc, preserve=("sparsity", "clusters")), args.qat_steps, args.qat_lr)

    make_variant: dict[str, Callable[[], Any]] = {
        "baseline": lambda: baseline,
        "pruned": lambda: tune(
            qgraph.prune(baseline, sparsity=0.5, block=(1, 16)), args.prune_steps, args.finetune_lr
        ),
        "clustered": lambda: tune(qgraph.cluster(baseline, clusters=16), args.cluster_steps, args.cluster_lr),
        "pcqat": pcqat,
    }
    models: dict[str, Any] = {}
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for variant, _ in VARIANTS:
        rows[variant] = {}
        log(f"[{key}] {variant}: fine-tune")
        model = (
            "failed: the pruned stage failed"
            if variant == "pcqat" and "pruned" not in models
            else attempt(
                f"{key} {variant}", lambda v=variant: timed(f"wrap + fine-tune {v}", make_variant[v])
            )
        )
        if isinstance(model, str):
            rows[variant] = {tool: {"error": model} for tool in TOOLS}
            continue
        models[variant] = model
        qat = variant == "pcqat"
        log(f"[{key}] {variant}: qgraph files")
        acc = attempt(
            f"{key} {variant} keras acc", lambda m=model: f"{keras_accuracy(m, x_test, y_test):.2%}"
        )
        files = timed("qgraph export", lambda m=model, q=qat: qgraph_files(m, calib, q, sparse))
        save(args, key, variant, "qgraph", files)
        rows[variant]["qgraph"] = {
            "keras_acc": acc,
            **timed("latency + accuracy", lambda f=files: figures(f, x_test, y_test, args, "qgraph")),
        }
        log(f"[{key}] {variant}: converter files")
        plain = (
            model
            if variant == "baseline"
            else attempt("to_keras", lambda m=model: qgraph.to_keras(qgraph.load(m)))
        )
        if isinstance(plain, str):
            rows[variant]["converter"] = {"error": plain}
            continue
        acc = attempt(
            f"{key} {variant} keras acc", lambda m=plain: f"{keras_accuracy(m, x_test, y_test):.2%}"
        )
        files = timed("converter export", lambda m=plain: converter_files(m, calib))
        save(args, key, variant, "converter", files)
        rows[variant]["converter"] = {
            "keras_acc": acc,
            **timed("latency + accuracy", lambda f=files: figures(f, x_test, y_test, args, "converter")),
        }
    log(f"[{key}] constraints without fine-tuning (reference)")
    reference = timed("no-fine-tune reference", lambda: untrained_reference(baseline, calib, key))
    timings["total"] = time.perf_counter() - t_model
    return {"rows": rows, "reference": reference, "timings": timings}


def untrained_reference(baseline, calib, key: str) -> dict[str, Any]:
    """Vela's Flash and est. ms with the constraints set on the baseline's weights, no training."""
    import qgraph

    def vela_of(make: Callable[[], Any]) -> Any:
        def run():
            r = qgraph.compile(
                make(), target="ethos-u", accelerator_config=ACCELERATOR, vela=True, representative_data=calib
            )
            return r.report.figures["vela"]

        return attempt(f"{key} reference", run)

    return {
        "baseline": vela_of(lambda: baseline),
        "pruned": vela_of(lambda: qgraph.prune(baseline, sparsity=0.5, block=(1, 16))),
        "clustered": vela_of(lambda: qgraph.cluster(baseline, clusters=16)),
        "pcqat": vela_of(
            lambda: qgraph.cluster(
                qgraph.prune(baseline, sparsity=0.5, block=(1, 16)), clusters=8, preserve_sparsity=True
            )
        ),
    }


# ----------------------------------------------------------------------------- report


def vela_cell(vela: Any, f: Callable[[dict[str, Any]], str]) -> str:
    return vela if isinstance(vela, str) else f(vela)


def pair(value: Any, f: Callable[[Any], str]) -> str:
    if isinstance(value, str):
        return value
    dense, sparse = value
    if isinstance(dense, str):
        return dense
    return f"{f(dense)} / {sparse if isinstance(sparse, str) else f(sparse)}"


COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Keras acc", lambda r: r["keras_acc"]),
    ("int8 acc", lambda r: r["int8_acc"]),
    (
        "NPU %",
        lambda r: vela_cell(
            r["vela"], lambda v: f"{100 * v['npu_ops'] / max(v['npu_ops'] + v['cpu_ops'], 1):.0f}%"
        ),
    ),
    ("Flash KiB", lambda r: vela_cell(r["vela"], lambda v: f"{v['flash_kib']:.0f}")),
    ("SRAM KiB", lambda r: vela_cell(r["vela"], lambda v: f"{v['sram_kib']:.0f}")),
    ("est. ms", lambda r: vela_cell(r["vela"], lambda v: f"{v['inference_ms']:.2f}")),
    ("zeros / values", lambda r: r["constraints"]),
    ("int8 B d / s", lambda r: pair(r["int8_bytes"], lambda b: f"{len(b):,}")),
    ("int8 ms d / s", lambda r: pair(r["int8_ms"], lambda t: f"{t:.2f}")),
    ("f32 B d / s", lambda r: pair(r["f32_bytes"], lambda b: f"{len(b):,}")),
    ("f32 ms d / s", lambda r: pair(r["f32_ms"], lambda t: f"{t:.2f}")),
)


def model_table(result: dict[str, Any]) -> str:
    lines = [
        "| variant | tool | " + " | ".join(h for h, _ in COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for variant, title in VARIANTS:
        for tool in TOOLS:
            r = result["rows"][variant].get(tool, {"error": "not run"})
            cells = [r["error"]] * len(COLUMNS) if "error" in r else [f(r) for _, f in COLUMNS]
            lines.append(f"| {title} | {tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio(vela: Any, base: Any, key: str) -> float | None:
    if isinstance(vela, str) or isinstance(base, str) or not base.get(key):
        return None
    return vela[key] / base[key]


def ratios_table(result: dict[str, Any]) -> str:
    """Flash and est. ms over the baseline, per tool, and for the untrained constraints."""
    sources = {
        tool: {v: result["rows"][v].get(tool, {}).get("vela", "n/a") for v, _ in VARIANTS} for tool in TOOLS
    }
    sources["qgraph, no fine-tune"] = result["reference"]
    lines = [
        "| Flash / est. ms vs baseline | " + " | ".join(t for _, t in VARIANTS[1:]) + " |",
        "|---|" + "---:|" * (len(VARIANTS) - 1),
    ]
    for name, vela in sources.items():
        cells = []
        for v, _ in VARIANTS[1:]:
            flash, ms = (
                ratio(vela[v], vela["baseline"], "flash_kib"),
                ratio(vela[v], vela["baseline"], "inference_ms"),
            )
            cells.append("n/a" if flash is None or ms is None else f"{flash:.2f}x / {ms:.2f}x")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def criterion_lines(key: str, result: dict[str, Any]) -> list[str]:
    """The issue's criterion on a MobileNetV2-0.35: PCQAT <= 0.4x Flash and <= 0.5x est. ms."""
    out = []
    for name, vela in (
        (
            "qgraph (trained)",
            {v: result["rows"][v].get("qgraph", {}).get("vela", "n/a") for v, _ in VARIANTS},
        ),
        ("qgraph, no fine-tune", result["reference"]),
    ):
        flash = ratio(vela["pcqat"], vela["baseline"], "flash_kib")
        ms = ratio(vela["pcqat"], vela["baseline"], "inference_ms")
        if flash is None or ms is None:
            out.append(f"{MODELS[key].title}, {name}: criterion not measurable (a file failed)")
            continue
        verdict = "PASS" if flash <= FLASH_LIMIT and ms <= TIME_LIMIT else "FAIL"
        out.append(
            f"**{verdict}** {MODELS[key].title}, {name}: PCQAT Flash {vela['pcqat']['flash_kib']:.0f} / "
            f"{vela['baseline']['flash_kib']:.0f} KiB = {flash:.2f}x (limit {FLASH_LIMIT}x), est. "
            f"{vela['pcqat']['inference_ms']:.2f} / {vela['baseline']['inference_ms']:.2f} ms = {ms:.2f}x "
            f"(limit {TIME_LIMIT}x)"
        )
    return out


def sparse_check_line(result: dict[str, Any]) -> str:
    """Whether every sparse file computes what its dense file computes."""
    differ, checked = [], 0
    for variant, title in VARIANTS:
        for tool in TOOLS:
            for name in ("int8", "f32"):
                diff = result["rows"][variant].get(tool, {}).get(name + "_diff")
                if isinstance(diff, float):
                    checked += 1
                    if diff > 0:
                        differ.append(f"{title} {tool} {name}: {diff:.2g}")
    same = f"identical in {checked - len(differ)} of {checked} pairs"
    return (
        f"Sparse vs dense file outputs on the first test samples (max |difference| of the probabilities): {same}"
        + (f"; differ: {', '.join(differ)}." if differ else ".")
    )


def section(key: str, result: dict[str, Any]) -> str:
    t = result["timings"]
    times = ", ".join(f"{k} {fmt_s(v)} s" for k, v in t.items() if k != "total" and v >= 0.01)
    parts = [
        f"### {MODELS[key].title}",
        model_table(result),
        ratios_table(result),
        f"Time: {fmt_s(t['total'])} s ({times}).",
    ]
    parts.append(sparse_check_line(result))
    if MODELS[key].alpha == 0.35:
        parts.append("\n".join(f"- {line}" for line in criterion_lines(key, result)))
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="(default: all)")
    p.add_argument(
        "--seed", type=int, default=0, help="data split, initial weights, batches (default: %(default)s)"
    )
    p.add_argument("--float-epochs", type=int, default=6, help="baseline epochs (default: %(default)s)")
    p.add_argument("--float-lr", type=float, default=2e-3, help="baseline Adam lr (default: %(default)s)")
    p.add_argument(
        "--prune-steps", type=int, default=126, help="pruning fine-tune steps (default: %(default)s)"
    )
    p.add_argument("--finetune-lr", type=float, default=1e-3, help="pruning Adam lr (default: %(default)s)")
    p.add_argument(
        "--cluster-steps",
        type=int,
        default=84,
        help="each clustering fine-tune's steps (default: %(default)s)",
    )
    p.add_argument("--cluster-lr", type=float, default=1e-4, help="clustering Adam lr (default: %(default)s)")
    p.add_argument("--qat-steps", type=int, default=84, help="PCQAT fine-tune steps (default: %(default)s)")
    p.add_argument("--qat-lr", type=float, default=1e-4, help="PCQAT Adam lr (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    p.add_argument("--calib", type=int, default=100, help="PTQ calibration samples (default: %(default)s)")
    p.add_argument("--runs", type=int, default=50, help="timed invokes per file (default: %(default)s)")
    p.add_argument(
        "--check",
        type=int,
        default=100,
        help="test samples compared between sparse and dense files (default: %(default)s)",
    )
    p.add_argument("--warmup", type=int, default=5, help="untimed invokes per file (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, 5 steps per fine-tune, 5 runs")
    p.add_argument("--save-tflite", metavar="DIR", help="keep every .tflite in DIR")
    p.add_argument("--markdown", metavar="PATH", help="also write the Markdown tables to PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.float_epochs, args.runs = 1, 5
        args.prune_steps = args.cluster_steps = args.qat_steps = 5

    env = environment(("ethos-u-vela",))
    print("# qgraph deployment benchmark: Ethos-U (Vela) and sparse weights\n")
    for line in env:
        print(f"- {line}")
    sparse = sparse_available()
    settings = (
        f"seed {args.seed}; baseline {args.float_epochs} epochs Adam {args.float_lr:g}; pruning {args.prune_steps} "
        f"steps Adam {args.finetune_lr:g}; clustering {args.cluster_steps} steps Adam {args.cluster_lr:g}; PCQAT "
        f"{args.qat_steps} QAT steps Adam {args.qat_lr:g}; batch {args.batch_size}; calibration {args.calib}; "
        f"latency median of {args.runs} runs; sparse=True {'available' if sparse else 'NOT available'}"
    )
    print(f"- {settings}\n", flush=True)

    t_start = time.perf_counter()
    results = {}
    for key in args.models:
        results[key] = run_model(key, args, sparse)
        log(f"[{key}] done in {fmt_s(results[key]['timings']['total'])} s")
    md = "\n\n".join(section(key, results[key]) for key in args.models)
    print(md)
    wall = f"wall time: total {time.perf_counter() - t_start:.0f} s; load average at end (1/5/15 min): {loadavg()}"
    print(f"\n{wall}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n\n" + "Environment: " + "; ".join(env) + f"; {settings}\n\n{wall}\n")
        print(f"\ntables written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
