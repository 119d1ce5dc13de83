"""Quantization-aware training benchmark: qgraph vs. TensorFlow Model Optimization (tfmot).

Run from the repository root:

    python bench/qat.py                          # both digits CNNs + MobileNetV2 export
    python bench/qat.py --markdown /tmp/qat.md   # also write the tables to a file
    python bench/qat.py --no-mobilenetv2         # digits only (about 2 minutes)

See `--help` for what is measured.
"""

from __future__ import annotations

import os

# Must be set before TensorFlow is imported anywhere (qgraph imports it too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

from bench_env import accuracy, environment, epoch_timer, fmt_s, loadavg, log  # bench/ is the script's folder
from tfmot_workarounds import quantize_every_layer

DESCRIPTION = """\
Compare quantization-aware training (QAT) with qgraph against tfmot
(tensorflow_model_optimization) on the same data, the same architecture and the
same schedule, and the export of the QAT model to an int8 .tflite.

Two processes, because tfmot only works with tf-keras (Keras 2):
  qgraph side  this process, Keras 3:
                 qat = qgraph.quantize_model(model)           (no calibration data)
                 qat.fit(...)
                 qgraph.compile(qat, target="cpu").tflite      (int8, float I/O)
  tfmot side   a subprocess with TF_USE_LEGACY_KERAS=1, tf-keras 2: the same
               architecture rebuilt layer by layer with tf_keras layers and the
               same layer names, then
                 tfmot.quantization.keras quantize_annotate_layer / quantize_apply
                 qat.fit(...)
                 c = tf.lite.TFLiteConverter.from_keras_model(qat)
                 c.optimizations = [tf.lite.Optimize.DEFAULT]; c.convert()
               It prints its results as one JSON line that this process parses.
  tfmot.quantization.keras.quantize_model refuses the digits CNN as it is:
  Rescaling is not in its registry. The tfmot side records that error and then
  uses the route tfmot's error message points to: every layer annotated with
  quantize_annotate_layer (default config), except Rescaling, which gets an
  output-only QuantizeConfig (8-bit per-tensor asymmetric MovingAverageQuantizer
  on its output, the same quantizer tfmot puts on other activations).
  A third, short subprocess WITHOUT TF_USE_LEGACY_KERAS passes a Keras 3 model to
  tfmot.quantization.keras.quantize_model and reports the error's first line.

Models:
  digits CNN  qgraph.demo.digits_cnn(concat=True) ("concat": BN, ReLU6, depthwise
              conv, a 2-input concat) and digits_cnn(concat=False) ("plain": the
              same conv stack without the side branch and the concat), on
              scikit-learn's bundled 8x8 digits, qgraph.demo.digits_data(seed):
              1347 training / 450 test images, the same split in both processes.
  MobileNetV2 keras.applications.MobileNetV2(weights=None, input_shape=(224,224,3))
              (tf_keras.applications.MobileNetV2 on the tfmot side). Export time
              only, no training: qgraph.quantize_model(model,
              representative_data=<--mobilenetv2-samples seeded random images>) so
              the ranges exist, then qgraph.compile; tfmot quantize_model (it accepts
              MobileNetV2 as is), then the converter as above. Each exported file is
              run once in LiteRT on a random image (untimed) to check it loads.

Schedule (the same on both sides, seeded with --seed through
keras.utils.set_random_seed / tf_keras.utils.set_random_seed):
  float  --float-epochs (8) epochs, Adam(--float-lr 3e-3), batch --batch-size (32),
         sparse categorical cross-entropy: the recipe of qgraph.demo.train_digits_cnn.
         The two frameworks draw different initial weights from the same seed, so
         the two float models differ.
  PTQ    int8 from the float model, calibrated on the first --calib (100) training
         samples: qgraph.compile(model, quantize="int8", representative_data=...) vs
         the converter with Optimize.DEFAULT and a representative_dataset yielding the
         same samples one at a time. Float input/output on both sides.
  QAT    from the trained float model, --qat-epochs (5) epochs, Adam(--qat-lr 1e-4),
         batch 32 (the seed is set again right before the QAT fit).
  cross  (not timed) each tool also runs the same QAT schedule starting from the
         OTHER side's trained float weights (copied layer by layer, by name), so the
         two tools are also compared from one identical starting point.

Measured per architecture and tool:
  float accuracy         the float model in its framework (predict) on the test split
  PTQ int8 accuracy      the PTQ .tflite in LiteRT (qgraph.demo.accuracy_in_litert)
  QAT fake-quant accuracy  the QAT model in its framework (predict) after fine-tuning
  QAT int8 accuracy      the exported QAT .tflite in LiteRT
  agreement              share of test images where the .tflite and the QAT model
                         predict the same class
  quantize_model time    wall time of qgraph.quantize_model(model) / of tfmot's
                         annotate + quantize_apply (one call each)
  epoch times            a callback records each epoch's wall time during the fits
                         above. The first epoch includes tracing; "steady" = median of
                         the other epochs. An epoch here is only 43 steps (~0.2 s), so
                         a burst of load from other processes can shift a whole fit;
                         hence also an interleaved measurement (--timing-rounds, 8):
                         copies of the trained float model and of its QAT model (same
                         compile settings) get one untimed warm-up epoch each, then
                         N rounds of one float epoch + one QAT epoch, alternating
                         which goes first. Training step time relative to float =
                         median over rounds of (QAT epoch / float epoch), both in the
                         same framework (qgraph: Keras 3; tfmot: tf-keras). The ratio
                         of the fits' steady medians, first-epoch and whole-fit ratios
                         are printed too. Keras 3 resolves jit_compile="auto" (shown
                         in the table); tf-keras defaults to no XLA.
  export time            one timed call of qgraph.compile(qat) / of building the
                         converter + convert(), after the PTQ call of the same tool
                         already warmed its process up.
Importing, data loading and evaluation are never timed.

The machine/version header and the Markdown tables (one per architecture, one for
MobileNetV2) go to stdout; progress goes to stderr; --markdown PATH also writes
the tables to PATH.
"""

ARCHS = {"concat": True, "plain": False}
PRETTY = {
    "concat": "digits CNN with concat (`digits_cnn(concat=True)`)",
    "plain": "digits CNN without concat (`digits_cnn(concat=False)`)",
}
RESULT_PREFIX = "QAT_BENCH_RESULT "


# ----------------------------------------------------------------------------- helpers


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def steady(times: list[float]) -> float:
    """Median epoch time without the first epoch (which includes tracing)."""
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def paired_epochs(keras_mod, float_model, qat_model, x, y, cfg: dict[str, Any]) -> dict[str, list[float]]:
    """Interleaved timing: one warm-up epoch each (traces), then `timing_rounds` rounds of
    one float epoch and one QAT epoch (order alternating), each timed by a callback, so
    that load from other processes hits both models alike."""
    models = {"float": (float_model, cfg["float_lr"]), "qat": (qat_model, cfg["qat_lr"])}
    for model, lr in models.values():
        model.compile(
            optimizer=keras_mod.optimizers.Adam(lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(x, y, epochs=1, batch_size=cfg["batch_size"], verbose=0)
    times: dict[str, list[float]] = {"float": [], "qat": []}
    for r in range(cfg["timing_rounds"]):
        for kind in ("float", "qat") if r % 2 == 0 else ("qat", "float"):
            model, _ = models[kind]
            timer = epoch_timer(keras_mod.callbacks.Callback)
            model.fit(x, y, epochs=1, batch_size=cfg["batch_size"], verbose=0, callbacks=[timer])
            times[kind].append(timer.times[0])
    return times


def save_weights(model, path: str) -> None:
    import numpy as np

    arrays = {}
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{i}"] = w
    np.savez(path, **arrays)


def load_weights(model, path: str) -> None:
    import numpy as np

    data = np.load(path)
    for layer in model.layers:
        n = len(layer.get_weights())
        if n:
            layer.set_weights([data[f"{layer.name}/{i}"] for i in range(n)])


def runs_in_litert(data: bytes, shape, seed: int) -> str:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    x = np.random.default_rng(seed).uniform(-1, 1, size=(1, *shape)).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(out["index"])
    return f"yes (output {tuple(y.shape)}, {np.dtype(inp['dtype']).name} I/O)"


# ----------------------------------------------------------------------------- tfmot worker


def tfmot_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs with TF_USE_LEGACY_KERAS=1: tf-keras 2 + tfmot."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from qgraph.demo import accuracy_in_litert, digits_data
    from qgraph.demo import digits_cnn as demo_digits_cnn

    Q = tfmot.quantization.keras
    seed = cfg["seed"]

    def digits_cnn(concat: bool, name: str = "digits_cnn"):
        # The same architecture and layer names as the qgraph side, built with tf_keras.
        return demo_digits_cnn(concat, name, keras_module=keras)

    def tfmot_quantize(model):
        return quantize_every_layer(model)

    def convert(model, calib=None) -> bytes:
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        if calib is not None:
            c.representative_dataset = lambda: ([s[None]] for s in calib)
        with contextlib.redirect_stdout(io.StringIO()):
            return c.convert()

    def fit(model, x, y, lr: float, epochs: int, reseed: bool = True) -> list[float]:
        if reseed:  # not for float training: it continues from the seed set before building
            keras.utils.set_random_seed(seed)
        model.compile(
            optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        timer = epoch_timer(keras.callbacks.Callback)
        model.fit(x, y, epochs=epochs, batch_size=cfg["batch_size"], verbose=0, callbacks=[timer])
        return timer.times

    x_train, y_train, x_test, y_test = digits_data(seed)
    calib = np.ascontiguousarray(x_train[: cfg["calib"]], np.float32)
    out: dict[str, Any] = {"archs": {}}
    for arch in cfg["archs"]:
        r: dict[str, Any] = {}
        out["archs"][arch] = r
        try:
            log(f"[tfmot {arch}] float training")
            keras.utils.set_random_seed(seed)
            model = digits_cnn(ARCHS[arch])
            r["float_epochs"] = fit(
                model, x_train, y_train, cfg["float_lr"], cfg["float_epochs"], reseed=False
            )
            r["float_acc"] = accuracy(model.predict(x_test, verbose=0), y_test)
            save_weights(model, os.path.join(cfg["dir"], f"tfkeras_{arch}.npz"))

            log(f"[tfmot {arch}] PTQ (converter)")
            ptq = convert(model, calib)
            r["ptq_acc"] = accuracy_in_litert(ptq, x_test, y_test)[0]

            try:  # what a user tries first
                Q.quantize_model(model)
                r["quantize_model_as_is"] = "accepted"
            except Exception as e:  # noqa: BLE001 -- report whatever tfmot raises
                r["quantize_model_as_is"] = first_line(e)

            log(f"[tfmot {arch}] quantize_annotate + quantize_apply")
            t0 = time.perf_counter()
            qat = tfmot_quantize(model)
            r["quantize_s"] = time.perf_counter() - t0
            log(f"[tfmot {arch}] QAT fit")
            r["qat_epochs"] = fit(qat, x_train, y_train, cfg["qat_lr"], cfg["qat_epochs"])
            qat_probs = qat.predict(x_test, verbose=0)
            r["qat_keras_acc"] = accuracy(qat_probs, y_test)
            log(f"[tfmot {arch}] export (converter)")
            t0 = time.perf_counter()
            data = convert(qat)
            r["export_s"] = time.perf_counter() - t0
            acc, probs, io_dtype = accuracy_in_litert(data, x_test, y_test)
            r["qat_int8_acc"], r["io"], r["size"] = acc, io_dtype, len(data)
            r["agreement"] = float(np.mean(probs.argmax(1) == qat_probs.argmax(1)))

            if cfg["timing_rounds"]:
                log(f"[tfmot {arch}] interleaved float / QAT epoch timing")
                fcopy = digits_cnn(ARCHS[arch])
                fcopy.set_weights(model.get_weights())
                r["paired"] = paired_epochs(keras, fcopy, tfmot_quantize(fcopy), x_train, y_train, cfg)

            other = os.path.join(cfg["dir"], f"keras3_{arch}.npz")
            if os.path.exists(other):
                log(f"[tfmot {arch}] QAT from the Keras 3 side's float weights (untimed)")
                start = digits_cnn(ARCHS[arch])
                load_weights(start, other)
                r["cross_start_float_acc"] = accuracy(start.predict(x_test, verbose=0), y_test)
                qat2 = tfmot_quantize(start)
                fit(qat2, x_train, y_train, cfg["qat_lr"], cfg["qat_epochs"])
                r["cross_qat_int8_acc"] = accuracy_in_litert(convert(qat2), x_test, y_test)[0]
        except Exception as e:  # noqa: BLE001 -- reported in the table
            traceback.print_exc()
            r["error"] = first_line(e)

    if cfg["mobilenetv2"]:
        r = {}
        out["mobilenetv2"] = r
        try:
            log("[tfmot MobileNetV2] building")
            keras.utils.set_random_seed(seed)
            model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
            log("[tfmot MobileNetV2] quantize_model")
            t0 = time.perf_counter()
            qat = Q.quantize_model(model)
            r["quantize_s"] = time.perf_counter() - t0
            log("[tfmot MobileNetV2] converter")
            t0 = time.perf_counter()
            data = convert(qat)
            r["export_s"] = time.perf_counter() - t0
            r["size"] = len(data)
            r["runs"] = runs_in_litert(data, (224, 224, 3), seed)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = first_line(e)
    return out


def keras3_refusal_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs WITHOUT TF_USE_LEGACY_KERAS: hand tfmot a Keras 3 model."""
    import keras
    import tensorflow_model_optimization as tfmot

    from qgraph.demo import digits_cnn

    model = digits_cnn(concat=True)
    try:
        tfmot.quantization.keras.quantize_model(model)
    except Exception as e:  # noqa: BLE001
        return {"keras": keras.__version__, "error": first_line(e)}
    return {"keras": keras.__version__, "error": "no error: tfmot accepted the Keras 3 model"}


def run_worker(kind: str, cfg: dict[str, Any], legacy: bool) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("TF_USE_LEGACY_KERAS", None)
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--worker-config", json.dumps(cfg)]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)  # stderr: inherited (progress)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return {"error": f"worker {kind!r} exited with code {proc.returncode} and no result line"}


# ----------------------------------------------------------------------------- qgraph side


def qgraph_fit(model, x, y, lr: float, epochs: int, batch_size: int, seed: int | None) -> list[float]:
    import keras

    if seed is not None:  # float training passes None: it continues from the seed set before building
        keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    timer = epoch_timer(keras.callbacks.Callback)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer])
    return timer.times


def qgraph_float(arch: str, args, data, workdir: str):
    import keras

    from qgraph.demo import digits_cnn

    x_train, y_train, x_test, y_test = data
    log(f"[qgraph {arch}] float training (Keras 3)")
    keras.utils.set_random_seed(args.seed)
    model = digits_cnn(ARCHS[arch])
    r: dict[str, Any] = {}
    r["float_epochs"] = qgraph_fit(
        model, x_train, y_train, args.float_lr, args.float_epochs, args.batch_size, None
    )
    r["jit_float"] = str(model.jit_compile)
    r["float_acc"] = accuracy(model.predict(x_test, verbose=0), y_test)
    save_weights(model, os.path.join(workdir, f"keras3_{arch}.npz"))
    return model, r


def qgraph_quant(arch: str, model, r: dict[str, Any], args, data, workdir: str) -> None:
    import numpy as np

    import qgraph
    from qgraph.demo import accuracy_in_litert, digits_cnn

    x_train, y_train, x_test, y_test = data
    try:
        log(f"[qgraph {arch}] PTQ")
        calib = np.ascontiguousarray(x_train[: args.calib], np.float32)
        ptq = qgraph.compile(model, target="cpu", quantize="int8", representative_data=calib).tflite
        r["ptq_acc"] = accuracy_in_litert(ptq, x_test, y_test)[0]

        log(f"[qgraph {arch}] quantize_model")
        t0 = time.perf_counter()
        qat = qgraph.quantize_model(model)
        r["quantize_s"] = time.perf_counter() - t0
        log(f"[qgraph {arch}] QAT fit")
        r["qat_epochs"] = qgraph_fit(
            qat, x_train, y_train, args.qat_lr, args.qat_epochs, args.batch_size, args.seed
        )
        r["jit_qat"] = str(qat.jit_compile)
        qat_probs = qat.predict(x_test, verbose=0)
        r["qat_keras_acc"] = accuracy(qat_probs, y_test)
        log(f"[qgraph {arch}] export (qgraph.compile)")
        t0 = time.perf_counter()
        data_ = qgraph.compile(qat, target="cpu").tflite
        r["export_s"] = time.perf_counter() - t0
        acc, probs, io_dtype = accuracy_in_litert(data_, x_test, y_test)
        r["qat_int8_acc"], r["io"], r["size"] = acc, io_dtype, len(data_)
        r["agreement"] = float(np.mean(probs.argmax(1) == qat_probs.argmax(1)))

        if args.timing_rounds:
            import keras

            log(f"[qgraph {arch}] interleaved float / QAT epoch timing")
            fcopy = digits_cnn(ARCHS[arch])
            fcopy.set_weights(model.get_weights())
            r["paired"] = paired_epochs(
                keras, fcopy, qgraph.quantize_model(fcopy), x_train, y_train, vars(args)
            )

        other = os.path.join(workdir, f"tfkeras_{arch}.npz")
        if os.path.exists(other):
            log(f"[qgraph {arch}] QAT from the tf-keras side's float weights (untimed)")
            start = digits_cnn(ARCHS[arch])
            load_weights(start, other)
            r["cross_start_float_acc"] = accuracy(start.predict(x_test, verbose=0), y_test)
            qat2 = qgraph.quantize_model(start)
            qgraph_fit(qat2, x_train, y_train, args.qat_lr, args.qat_epochs, args.batch_size, args.seed)
            r["cross_qat_int8_acc"] = accuracy_in_litert(
                qgraph.compile(qat2, target="cpu").tflite, x_test, y_test
            )[0]
    except Exception as e:  # noqa: BLE001 -- reported in the table and with a traceback on stderr
        traceback.print_exc()
        r["error"] = first_line(e)


def qgraph_mobilenetv2(args) -> dict[str, Any]:
    import keras
    import numpy as np

    import qgraph

    r: dict[str, Any] = {}
    try:
        log("[qgraph MobileNetV2] building")
        keras.utils.set_random_seed(args.seed)
        model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        rng = np.random.default_rng(args.seed)
        samples = rng.uniform(-1, 1, size=(args.mobilenetv2_samples, 224, 224, 3)).astype(np.float32)
        log("[qgraph MobileNetV2] quantize_model")
        t0 = time.perf_counter()
        qat = qgraph.quantize_model(model, representative_data=samples)
        r["quantize_s"] = time.perf_counter() - t0
        log("[qgraph MobileNetV2] qgraph.compile")
        t0 = time.perf_counter()
        data = qgraph.compile(qat, target="cpu").tflite
        r["export_s"] = time.perf_counter() - t0
        r["size"] = len(data)
        r["runs"] = runs_in_litert(data, (224, 224, 3), args.seed)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        r["error"] = first_line(e)
    return r


# ----------------------------------------------------------------------------- report


def paired_ratios(r: dict[str, Any]) -> list[float]:
    return [q / f for f, q in zip(r["paired"]["float"], r["paired"]["qat"], strict=True)]


def ratio_cell(r: dict[str, Any]) -> str:
    ratios = paired_ratios(r)
    return f"**{statistics.median(ratios):.2f}x** ({min(ratios):.2f}..{max(ratios):.2f})"


def short(msg: str) -> str:
    """An error's first sentence, for a table cell (the full first line is printed above the tables)."""
    return msg.split(". ", 1)[0].replace("<class '", "`").replace("'>", "`").replace("|", "\\|")


def code(text: str) -> str:
    """A Markdown code span that may itself contain backticks."""
    return f"`` {text} ``"


def pct(v: float) -> str:
    return f"{v:.2%}"


def arch_table(q: dict[str, Any], t: dict[str, Any], args, refusal: str) -> str:
    rows: list[tuple[str, str, str]] = []

    def get(r, key, f):
        if key in r:
            return f(r[key])
        return f"failed: {r['error']}" if "error" in r else "n/a"

    def row(label, key, f=lambda v: v):
        rows.append((label, get(q, key, f), get(t, key, f)))

    def derived(label, f):
        vals = []
        for r in (q, t):
            try:
                vals.append(f(r))
            except (KeyError, ZeroDivisionError, IndexError):
                vals.append("n/a")
        rows.append((label, *vals))

    rows.append(("framework", "Keras 3 (this process)", "tf-keras 2 (subprocess, TF_USE_LEGACY_KERAS=1)"))
    rows.append(
        (
            "tfmot `quantize_model(model)` on the Keras 3 model",
            "(qgraph.quantize_model takes it)",
            short(refusal),
        )
    )
    rows.append(
        (
            "tfmot `quantize_model(model)` on the tf-keras model as is",
            "n/a",
            short(t.get("quantize_model_as_is", "n/a"))
            + " (workaround used: quantize_annotate_layer + quantize_apply)",
        )
    )
    row(f"float accuracy ({args.float_epochs} epochs, framework)", "float_acc", pct)
    row(f"PTQ int8 accuracy (LiteRT, {args.calib} calibration samples)", "ptq_acc", pct)
    row(f"QAT accuracy, fake-quant model in framework ({args.qat_epochs} epochs)", "qat_keras_acc", pct)
    row("**QAT int8 accuracy (LiteRT)**", "qat_int8_acc", lambda v: f"**{v:.2%}**")
    row("argmax agreement, .tflite vs QAT model", "agreement", pct)
    rows.append(
        (
            "cross check: QAT int8 accuracy (LiteRT) starting from the other column's float weights",
            get(q, "cross_qat_int8_acc", pct)
            + get(q, "cross_start_float_acc", lambda v: f" (start: {v:.2%} float)"),
            get(t, "cross_qat_int8_acc", pct)
            + get(t, "cross_start_float_acc", lambda v: f" (start: {v:.2%} float)"),
        )
    )
    row("quantize_model time (s)", "quantize_s", fmt_s)
    derived(
        "float epoch time (s), first / steady",
        lambda r: f"{r['float_epochs'][0]:.2f} / {steady(r['float_epochs']):.3f}",
    )
    derived(
        "QAT epoch time (s), first / steady",
        lambda r: f"{r['qat_epochs'][0]:.2f} / {steady(r['qat_epochs']):.3f}",
    )
    derived(
        "training step time, QAT / float, from the fits (steady medians)",
        lambda r: f"{steady(r['qat_epochs']) / steady(r['float_epochs']):.2f}x",
    )
    if args.timing_rounds:
        derived(
            f"interleaved epoch time (s), median of {args.timing_rounds}: float / QAT",
            lambda r: (
                f"{statistics.median(r['paired']['float']):.3f} / {statistics.median(r['paired']['qat']):.3f}"
            ),
        )
        derived(
            f"**training step time, QAT / float** (interleaved, median of {args.timing_rounds} paired ratios; min..max)",
            ratio_cell,
        )
    derived(
        "QAT / float, first epoch; whole fit per epoch",
        lambda r: (
            f"{r['qat_epochs'][0] / r['float_epochs'][0]:.2f}x; "
            f"{(sum(r['qat_epochs']) / len(r['qat_epochs'])) / (sum(r['float_epochs']) / len(r['float_epochs'])):.2f}x"
        ),
    )
    rows.append(
        (
            "jit_compile (float / QAT)",
            f"{q.get('jit_float', 'n/a')} / {q.get('jit_qat', 'n/a')}",
            "not set (tf-keras default, no XLA)",
        )
    )
    row("**export time (s)**", "export_s", lambda v: f"**{fmt_s(v)}**")
    row("QAT .tflite size (bytes), I/O", "size", lambda v: f"{v:,}")
    rows[-1] = (rows[-1][0], rows[-1][1] + f", {q.get('io', '?')}", rows[-1][2] + f", {t.get('io', '?')}")

    lines = ["| Metric | qgraph | tfmot + TFLite converter |", "|---|---:|---:|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def mobilenet_table(q: dict[str, Any], t: dict[str, Any]) -> str:
    def get(r, key, f):
        if key in r:
            return f(r[key])
        return f"failed: {r['error']}" if "error" in r else "n/a"

    def total(r):
        return fmt_s(r["quantize_s"] + r["export_s"]) if "quantize_s" in r and "export_s" in r else "n/a"

    speed = f"**{t['export_s'] / q['export_s']:.0f}x**" if "export_s" in q and "export_s" in t else "n/a"
    lines = [
        "| MobileNetV2 (224x224, weights=None) | qgraph | tfmot + TFLite converter |",
        "|---|---:|---:|",
        f"| quantize_model (s) | {get(q, 'quantize_s', fmt_s)} | {get(t, 'quantize_s', fmt_s)} |",
        f"| **export to int8 .tflite (s)** | **{get(q, 'export_s', fmt_s)}** | **{get(t, 'export_s', fmt_s)}** |",
        f"| quantize_model + export (s) | {total(q)} | {total(t)} |",
        f"| export speedup (tfmot export / qgraph export) | {speed} | |",
        f"| .tflite size (bytes) | {get(q, 'size', lambda v: f'{v:,}')} | {get(t, 'size', lambda v: f'{v:,}')} |",
        f"| runs in LiteRT | {get(q, 'runs', str)} | {get(t, 'runs', str)} |",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--archs",
        nargs="*",
        choices=list(ARCHS),
        default=list(ARCHS),
        help="digits CNN variants: concat = digits_cnn(concat=True), plain = concat=False; none: "
        "MobileNetV2 only (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for data split, weights and shuffling (default: %(default)s)",
    )
    p.add_argument("--float-epochs", type=int, default=8, help="float training epochs (default: %(default)s)")
    p.add_argument(
        "--float-lr", type=float, default=3e-3, help="float Adam learning rate (default: %(default)s)"
    )
    p.add_argument("--qat-epochs", type=int, default=5, help="QAT fine-tuning epochs (default: %(default)s)")
    p.add_argument("--qat-lr", type=float, default=1e-4, help="QAT Adam learning rate (default: %(default)s)")
    p.add_argument(
        "--batch-size", type=int, default=32, help="batch size, float and QAT (default: %(default)s)"
    )
    p.add_argument(
        "--timing-rounds",
        type=int,
        default=8,
        metavar="N",
        help="interleaved timing: N rounds of one float epoch + one QAT epoch on copies "
        "of the trained models, after one warm-up epoch each; 0 skips it (default: %(default)s)",
    )
    p.add_argument("--calib", type=int, default=100, help="PTQ calibration samples (default: %(default)s)")
    p.add_argument(
        "--mobilenetv2-samples",
        type=int,
        default=4,
        metavar="N",
        help="random images passed as representative_data to qgraph.quantize_model for "
        "MobileNetV2 (default: %(default)s)",
    )
    p.add_argument(
        "--no-mobilenetv2", dest="mobilenetv2", action="store_false", help="skip the MobileNetV2 export row"
    )
    p.add_argument("--markdown", metavar="PATH", help="also write the Markdown tables to PATH")
    p.add_argument("--worker", choices=["tfmot", "keras3-refusal"], help=argparse.SUPPRESS)
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        cfg = json.loads(args.worker_config or "{}")
        fn = tfmot_worker if args.worker == "tfmot" else keras3_refusal_worker
        print(RESULT_PREFIX + json.dumps(fn(cfg)), flush=True)
        return 0

    from qgraph.demo import digits_data

    env = environment(("tf-keras", "tensorflow-model-optimization"))
    print("# qgraph QAT benchmark: qgraph vs tfmot\n")
    for line in env:
        print(f"- {line}")
    print(
        f"- seed {args.seed}; float {args.float_epochs} epochs Adam {args.float_lr:g}; QAT {args.qat_epochs} "
        f"epochs Adam {args.qat_lr:g}; batch {args.batch_size}; PTQ calibration {args.calib} samples\n",
        flush=True,
    )

    t_start = time.perf_counter()
    log("[tfmot vs Keras 3] subprocess without TF_USE_LEGACY_KERAS")
    refusal = run_worker("keras3-refusal", {}, legacy=False)
    refusal_text = refusal.get("error", "n/a")

    data = digits_data(args.seed)
    with tempfile.TemporaryDirectory(prefix="qgraph_qat_bench_") as workdir:
        floats = {arch: qgraph_float(arch, args, data, workdir) for arch in args.archs}
        cfg = {
            "seed": args.seed,
            "archs": args.archs,
            "float_epochs": args.float_epochs,
            "float_lr": args.float_lr,
            "qat_epochs": args.qat_epochs,
            "qat_lr": args.qat_lr,
            "batch_size": args.batch_size,
            "calib": args.calib,
            "timing_rounds": args.timing_rounds,
            "mobilenetv2": args.mobilenetv2,
            "dir": workdir,
        }
        log("[tfmot] subprocess with TF_USE_LEGACY_KERAS=1")
        tf_res = run_worker("tfmot", cfg, legacy=True)
        for arch, (model, r) in floats.items():
            qgraph_quant(arch, model, r, args, data, workdir)
    q_mnv2 = qgraph_mobilenetv2(args) if args.mobilenetv2 else {}

    sections = []
    for arch in args.archs:
        t = tf_res.get("archs", {}).get(arch, {"error": tf_res.get("error", "no result")})
        sections.append(f"### {PRETTY[arch]}\n\n" + arch_table(floats[arch][1], t, args, refusal_text))
    if args.mobilenetv2:
        t = tf_res.get("mobilenetv2", {"error": tf_res.get("error", "no result")})
        sections.append("### MobileNetV2 export\n\n" + mobilenet_table(q_mnv2, t))
    notes = [f"tfmot.quantization.keras.quantize_model(Keras 3 digits_cnn) raised: {refusal_text}"]
    for arch in args.archs:
        as_is = tf_res.get("archs", {}).get(arch, {}).get("quantize_model_as_is")
        if as_is:
            notes.append(f"tfmot.quantization.keras.quantize_model(tf-keras {arch} model) raised: {as_is}")
    sections.insert(0, "\n".join(f"- {code(n)}" for n in dict.fromkeys(notes)))
    md = "\n\n".join(sections)
    print(md)
    print()
    for arch in args.archs:
        q = floats[arch][1]
        t = tf_res.get("archs", {}).get(arch, {})
        for name, r in (("qgraph", q), ("tfmot", t)):
            for key in ("float_epochs", "qat_epochs"):
                if key in r:
                    print(f"{arch} {name} {key} (s): " + ", ".join(f"{v:.3f}" for v in r[key]))
            for kind, vals in r.get("paired", {}).items():
                print(f"{arch} {name} interleaved {kind} epochs (s): " + ", ".join(f"{v:.3f}" for v in vals))
    print(
        f"\nload average at end (1/5/15 min): {loadavg()}; total wall time {time.perf_counter() - t_start:.0f} s"
    )
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n\n")
            f.write("Environment: " + "; ".join(env) + "\n")
        print(f"\ntables written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
