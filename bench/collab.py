"""Collaborative optimization benchmark: pruning, clustering, QAT, PQAT, CQAT, PCQAT with
qgraph vs. TensorFlow Model Optimization (tfmot), in the format of tfmot's published
collaborative-optimization tables.

Run from the repository root:

    python bench/collab.py                            # both digits CNNs (about 4 minutes)
    python bench/collab.py --quick                    # 1 epoch everywhere (smoke test)
    python bench/collab.py --models concat plain dscnn  # + DS-CNN-L (about 16 minutes more)
    python bench/collab.py --markdown /tmp/collab.md  # also write the tables to a file

See `--help` for what is measured.
"""

from __future__ import annotations

import os

# Must be set before TensorFlow is imported anywhere (qgraph imports it too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import gzip
import io
import json
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from bench_env import accuracy, environment, epoch_timer, fmt_s, loadavg, log  # bench/ is the script's folder
from tfmot_workarounds import quantize_every_layer

DESCRIPTION = """\
Compare collaborative optimization (pruning, clustering and quantization-aware
training combined) in qgraph against tfmot (tensorflow_model_optimization), on the
same data, the same architectures and the same schedule, following tfmot's
published recipe and table layout
(https://www.tensorflow.org/model_optimization/guide/combine/collaborative_optimization).

Two processes, because tfmot only works with tf-keras (Keras 2):
  qgraph side  this process, Keras 3:
                 pruned = qgraph.prune(model, sparsity=0.5, schedule="constant",
                                       begin_step=0, end_step=-1, frequency=100)
                 clustered = qgraph.cluster(model, clusters=16, init="kmeans++",
                                            per_channel=False)   # True: per-channel column
                 pc = qgraph.cluster(pruned, clusters=8, init="kmeans++",
                                     preserve_sparsity=True)
                 qat = qgraph.quantize_model(model)
                 pqat = qgraph.quantize_model(pruned, preserve=("sparsity",))
                 cqat = qgraph.quantize_model(clustered, preserve=("clusters",))
                 pcqat = qgraph.quantize_model(pc, preserve=("sparsity", "clusters"))
               Each returned model is compiled and fit like any Keras 3 model (no
               pruning callback, no strip step). Export:
                 qgraph.compile(m, quantize="int8", representative_data=calib)  (PTQ:
                   baseline, pruned, clustered columns)
                 qgraph.compile(qat_model)   (int8 from the learned ranges: QAT columns)
               qgraph's prune/cluster keep BatchNorm live and Rescaling unfolded
               while fine-tuning (as tfmot); quantize_model folds BatchNorm (frozen
               BN during QAT), carrying the masks and clusters.
  tfmot side   a subprocess with TF_USE_LEGACY_KERAS=1, tf-keras 2: the same
               architectures rebuilt with tf_keras layers and the same layer names:
                 prune_low_magnitude(model, pruning_schedule=ConstantSparsity(0.5,
                   begin_step=0, frequency=100)); fit with UpdatePruningStep();
                   strip_pruning
                 cluster_weights(model, number_of_clusters=16,
                   cluster_centroids_init=KMEANS_PLUS_PLUS); strip_clustering
                 clustering.keras.experimental.cluster_weights(..., cluster_per_channel=True)
                 PC: experimental cluster_weights(stripped pruned, 8, KMEANS_PLUS_PLUS,
                   preserve_sparsity=True); strip_clustering
                 QAT:   quantize_apply(quantize_annotate_model(model))
                 PQAT:  ... quantize_apply(..., Default8BitPrunePreserveQuantizeScheme())
                 CQAT:  ... quantize_apply(..., Default8BitClusterPreserveQuantizeScheme(
                          preserve_sparsity=False))
                 PCQAT: ... quantize_apply(..., Default8BitClusterPreserveQuantizeScheme(
                          preserve_sparsity=True))
               Export: PTQ (baseline, pruned, clustered) = TFLiteConverter.from_keras_model
               with optimizations=[Optimize.DEFAULT], representative_dataset = the
               calibration samples one at a time, supported_ops=[TFLITE_BUILTINS_INT8];
               QAT columns = the converter on the QAT model with Optimize.DEFAULT.
               tfmot's wrappers modify the layers they wrap, so every stage starts from
               a fresh copy (same architecture, weights copied by layer name).
               It prints its results as one JSON line that this process parses.
  The tfmot side first tries each call on the whole model as is. Where tfmot
  refuses it (the digits CNN's Rescaling layer is neither in the pruning nor in the
  quantization registry), the refusal is recorded in the notes under the table and
  the tfmot side takes the route its error message points to: prune_low_magnitude
  only on the layers the pruning registry supports; quantize_annotate_layer on
  every layer, Rescaling with an output-only
  QuantizeConfig (8-bit per-tensor asymmetric MovingAverageQuantizer on its
  output), then quantize_apply with the scheme above (as bench/qat.py does).
  Warnings raised while wrapping (e.g. tfmot skipping a layer with too few weights
  per channel for per-channel clustering) are recorded in the notes too.
  Both float I/O; both int8 weights and activations.

Models (--models; default concat plain, which take about 4 minutes on 2 cores;
dscnn adds about 16, most of it tfmot tracing and converting its per-channel
clustering and cluster-preserving QAT graphs):
  concat  qgraph.demo.digits_cnn(concat=True) (Rescaling, BN, ReLU6, depthwise conv,
          a 2-input concat) on scikit-learn's 8x8 digits, qgraph.demo.digits_data(seed):
          1347 training / 450 test images
  plain   digits_cnn(concat=False), same data
  dscnn   a DS-CNN-L in the Arm ML-Zoo keyword-spotting layout (ARM-software/
          ML-examples tflu-kws-cortex-m models.py, model_size_info 6 276 10 4 2 1 276
          3 3 2 2 276 3 3 1 1 ...): input (49, 10, 1); Conv2D 276 (10, 4) strides
          (2, 1) same + BN + ReLU; 5 x [DepthwiseConv2D 3x3 same (strides 2x2 in the
          first block, as in ML-Zoo) + BN + ReLU, Conv2D 276 1x1 + BN + ReLU]; global
          average pooling; Dense(10) softmax; no dropout (as in models.py). Trained on
          the same digits split, each 8x8 image bilinearly upsampled to 49x10 and
          divided by 16 (numpy, computed once in this process and written to a .npz
          in a temporary folder that both processes read, so both see identical
          arrays).

Schedule (the same on both sides; keras.utils.set_random_seed(seed) /
tf_keras.utils.set_random_seed(seed) before building and before every fit):
  baseline   --float-epochs (8) epochs, Adam(--float-lr 3e-3), batch --batch-size (32),
             sparse categorical cross-entropy. Both start from the same initial
             weights (Keras 3's under the seed, handed to tf-keras by layer name
             through a .npz); shuffling and dropout still differ between frameworks,
             so run several --seeds to see the noise.
  pruned     50% constant sparsity from step 0, masks every 100 steps;
             --finetune-epochs (3) epochs Adam(--finetune-lr 1e-3). The same
             arguments do not prune at the same steps: tfmot's first mask update
             comes at its step 100 (its counter is 1 at the first batch; a fit of
             fewer than 100 steps leaves the model dense), qgraph's at step 0; the
             steps of this run are printed above the tables.
  clustered  16 clusters, k-means++ init, per tensor (per channel in the per-channel
             column); --finetune-epochs, Adam(--finetune-lr)
  PC         (for PCQAT) the pruned model clustered to 8 clusters keeping its zeros;
             --finetune-epochs, Adam(--finetune-lr)
  QAT family QAT of the baseline, PQAT of the pruned, CQAT of the clustered (per
             tensor and per channel), PCQAT of PC: --qat-epochs (3) epochs,
             Adam(--qat-lr 1e-4)
  PTQ calibration: the first --calib (100) training samples.
  --quick sets every epoch count to 1.

Measured per model, tool and column (Baseline | Pruned | Clustered | Clustered
per-channel | QAT | PQAT | CQAT | CQAT per-channel | PCQAT):
  Keras accuracy        the model in its framework (predict) on the test split:
                        float for the first four columns (tfmot: after strip), the
                        fake-quant QAT model for the others
  INT8 LiteRT accuracy  the int8 .tflite in ai_edge_litert's Interpreter on the test split
  .tflite bytes, gzip bytes   len(file), len(gzip.compress(file, 9))
  kernel sparsity       share of exact zeros in each Conv2D / FULLY_CONNECTED weight
                        tensor of the .tflite: the minimum over those tensors (and
                        over all their weights together); DEPTHWISE_CONV_2D kernels
                        separately (max), since tfmot neither prunes nor clusters them
  distinct int8 values  per output channel of each weight tensor (axis 0 for conv/FC,
                        3 for depthwise): the maximum over channels and tensors,
                        Conv2D/FC and depthwise separately
  constraint kept       Conv2D/FC kernels of the .tflite that still have what their
                        column promises: sparsity >= 50% (pruned, PQAT, PCQAT; 0.5%
                        tolerance) and at most 16 (clustered, CQAT) or 8 (PCQAT) distinct
                        values in every output channel; the tensors that miss it are
                        listed under the table
  float ops             operators of the .tflite with a float32 input or output other
                        than QUANTIZE/DEQUANTIZE (0 = full integer)
  time                  wall time of the wrap call (prune/cluster/quantize), of the
                        fine-tuning fit (per epoch in the timing table; the first epoch
                        includes tracing) and of the export (qgraph.compile / converter);
                        tfmot's strip and fresh-copy steps count as wrap time, its
                        as-is attempts (above) do not
  The .tflite statistics are read from the flatbuffer with
  ai_edge_litert.schema_py_generated (the same code for both tools' files); when
  qgraph.compress.stats.weight_stats exists, it is run on every file through
  qgraph.load and disagreements with the flatbuffer reading are listed.
Then, per model, qgraph vs tfmot per column: accuracy differences in points (qgraph
minus tfmot), gzip and total-time ratios (qgraph / tfmot). Importing, data loading
and evaluation are never timed.

The machine/version header and the Markdown tables go to stdout; progress goes to
stderr; --markdown PATH also writes the tables to PATH; --save-tflite DIR keeps
every .tflite.
"""

RESULT_PREFIX = "COLLAB_BENCH_RESULT "
MODELS = ("concat", "plain", "dscnn")
PRETTY = {
    "concat": "digits CNN with concat (`digits_cnn(concat=True)`)",
    "plain": "digits CNN without concat (`digits_cnn(concat=False)`)",
    "dscnn": "DS-CNN-L (Arm ML-Zoo KWS layout, digits upsampled to 49x10)",
}
#: (key, header); the order of the published tables, clustering columns added.
COLUMNS = (
    ("baseline", "Baseline"),
    ("pruned", "Pruned"),
    ("clustered", "Clustered"),
    ("clustered_pc", "Clustered per-channel"),
    ("qat", "QAT"),
    ("pqat", "PQAT"),
    ("cqat", "CQAT"),
    ("cqat_pc", "CQAT per-channel"),
    ("pcqat", "PCQAT"),
)
#: every stage in run order: (key, source model, wrap kind, epochs kind, export kind).
#: "pc" (prune -> sparsity-preserving clustering) is not a column, only PCQAT's start.
STAGES = (
    ("baseline", None, "float", "float", "ptq"),
    ("pruned", "baseline", "prune", "finetune", "ptq"),
    ("clustered", "baseline", "cluster", "finetune", "ptq"),
    ("clustered_pc", "baseline", "cluster_pc", "finetune", "ptq"),
    ("pc", "pruned", "cluster_sparse", "finetune", None),
    ("qat", "baseline", "qat", "qat", "qat"),
    ("pqat", "pruned", "pqat", "qat", "qat"),
    ("cqat", "clustered", "cqat", "qat", "qat"),
    ("cqat_pc", "clustered_pc", "cqat", "qat", "qat"),
    ("pcqat", "pc", "pcqat", "qat", "qat"),
)
KERNEL_OPS = ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")


# ----------------------------------------------------------------------------- models and data


def dscnn_l(keras_module=None, name: str = "ds_cnn_l"):
    """DS-CNN-L in the Arm ML-Zoo keyword-spotting layout (model_size_info 6 276 10 4 2 1
    276 3 3 2 2 276 3 3 1 1 ...), input (49, 10, 1), 10 classes. `keras_module` builds it
    with another Keras (e.g. `tf_keras`); the layer names are the same either way."""
    import keras as keras3

    keras = keras_module or keras3
    layers = keras.layers
    inp = keras.Input((49, 10, 1), name="features")
    x = layers.Conv2D(276, (10, 4), strides=(2, 1), padding="same", name="conv_1")(inp)
    x = layers.BatchNormalization(momentum=0.9, name="conv_1_bn")(x)
    x = layers.ReLU(name="conv_1_relu")(x)
    for i in range(1, 6):
        stride = (2, 2) if i == 1 else (1, 1)
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", name=f"dw_{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"dw_{i}_bn")(x)
        x = layers.ReLU(name=f"dw_{i}_relu")(x)
        x = layers.Conv2D(276, 1, name=f"pw_{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"pw_{i}_bn")(x)
        x = layers.ReLU(name=f"pw_{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=name)


def build(key: str, keras_module=None, init: str | None = None):
    """Model `key` built with `keras_module` (default Keras 3); with `init`, the initial
    weights are read from that .npz (see write_initial_weights), so both tools start the
    baseline from the same numbers."""
    import numpy as np

    from qgraph.demo import digits_cnn

    model = (
        dscnn_l(keras_module) if key == "dscnn" else digits_cnn(key == "concat", keras_module=keras_module)
    )
    if init is not None:
        saved = np.load(init)
        for layer in model.layers:
            # By layer name and position: tf-keras lists a model's trainable weights before its
            # moving statistics, Keras 3 layer by layer; within a layer both use the same order.
            current = layer.get_weights()
            if current:
                layer.set_weights([saved[f"{layer.name}/{i}"] for i in range(len(current))])
    return model


def write_initial_weights(key: str, seed: int, path: str) -> None:
    """Keras 3's initial weights for model `key` under `seed`, by layer name, into `path`."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    model = build(key)
    np.savez(
        path, **{f"{layer.name}/{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}
    )


def upsample_bilinear(x, out_h: int, out_w: int):
    """(N, H, W, C) -> (N, out_h, out_w, C), bilinear with aligned corners, in numpy."""
    import numpy as np

    _, h, w, _ = x.shape

    def weights(n_in: int, n_out: int):
        pos = np.linspace(0.0, n_in - 1.0, n_out)
        lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
        hi = np.clip(lo + 1, 0, n_in - 1)
        m = np.zeros((n_out, n_in), np.float64)
        np.add.at(m, (np.arange(n_out), lo), 1.0 - (pos - lo))
        np.add.at(m, (np.arange(n_out), hi), pos - lo)
        return m

    rows, cols = weights(h, out_h), weights(w, out_w)
    y = np.einsum("ah,nhwc,bw->nabc", rows, x.astype(np.float64), cols)
    return y.astype(np.float32)


def write_data(seed: int, path: str) -> None:
    """Both processes read their arrays from this file: the digits split and its 49x10 version."""
    import numpy as np

    from qgraph.demo import digits_data

    x_train, y_train, x_test, y_test = digits_data(seed)
    np.savez(
        path,
        digits_x_train=x_train,
        digits_x_test=x_test,
        kws_x_train=upsample_bilinear(x_train, 49, 10) / np.float32(16.0),
        kws_x_test=upsample_bilinear(x_test, 49, 10) / np.float32(16.0),
        y_train=y_train,
        y_test=y_test,
    )


def load_data(key: str, path: str):
    import numpy as np

    d = np.load(path)
    prefix = "kws" if key == "dscnn" else "digits"
    return (
        np.ascontiguousarray(d[f"{prefix}_x_train"], np.float32),
        d["y_train"],
        np.ascontiguousarray(d[f"{prefix}_x_test"], np.float32),
        d["y_test"],
    )


# ----------------------------------------------------------------------------- .tflite statistics


def tflite_stats(data: bytes) -> dict[str, Any]:
    """Weight statistics read from the flatbuffer: per Conv/FC/depthwise weight tensor, the
    share of exact zeros and the most distinct values in one output channel; and the
    operators that still compute in float."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    dtypes = {
        schema.TensorType.INT8: np.int8,
        schema.TensorType.UINT8: np.uint8,
        schema.TensorType.INT16: np.int16,
        schema.TensorType.INT32: np.int32,
        schema.TensorType.FLOAT32: np.float32,
        schema.TensorType.FLOAT16: np.float16,
    }
    sg = model.subgraphs[0]
    tensors: list[dict[str, Any]] = []
    float_ops: list[str] = []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        io = [i for i in (*op.inputs, *op.outputs) if i >= 0]
        if name not in ("QUANTIZE", "DEQUANTIZE") and any(
            sg.tensors[i].type == schema.TensorType.FLOAT32 for i in io
        ):
            float_ops.append(name)
        if name not in KERNEL_OPS or len(op.inputs) < 2:
            continue
        t = sg.tensors[op.inputs[1]]
        buf = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        if buf is None or len(buf) == 0 or t.type not in dtypes:
            continue
        w = np.frombuffer(np.asarray(buf, np.uint8).tobytes(), dtypes[t.type]).reshape(list(t.shape))
        axis = 3 if name == "DEPTHWISE_CONV_2D" else 0
        per_channel = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        tensors.append(
            {
                "tensor": t.name.decode() if isinstance(t.name, bytes) else str(t.name),
                "op": name,
                "shape": list(w.shape),
                "dtype": np.dtype(dtypes[t.type]).name,
                "size": int(w.size),
                "zeros": int(np.count_nonzero(w == 0)),
                "sparsity": float(np.mean(w == 0)),
                "distinct": int(len(np.unique(w))),
                "distinct_per_channel": int(max(len(np.unique(c)) for c in per_channel)),
            }
        )
    return {"tensors": tensors, "float_ops": float_ops}


#: what each column's .tflite should keep in its Conv2D/FC kernels: (min sparsity, max distinct
#: values per output channel); depthwise kernels are neither pruned nor clustered by default.
CONSTRAINTS: dict[str, tuple[float | None, int | None]] = {
    "pruned": (0.5, None),
    "pqat": (0.5, None),
    "clustered": (None, 16),
    "clustered_pc": (None, 16),
    "cqat": (None, 16),
    "cqat_pc": (None, 16),
    "pcqat": (0.5, 8),
}


def violations(stage: str, tensors: list[dict[str, Any]]) -> list[str]:
    """The Conv2D/FC kernels of a column's .tflite that lost its sparsity or clusters (up to
    0.5% tolerance on sparsity for rounding of odd sizes)."""
    min_sparsity, max_distinct = CONSTRAINTS.get(stage, (None, None))
    bad = []
    for t in tensors:
        if t["op"] == "DEPTHWISE_CONV_2D":
            continue
        name = t["tensor"].split(";")[0]  # the converter joins the names of fused ops
        if min_sparsity is not None and t["sparsity"] < min_sparsity - 0.005:
            bad.append(f"`{name}` sparsity {t['sparsity']:.2%}")
        if max_distinct is not None and t["distinct_per_channel"] > max_distinct:
            bad.append(f"`{name}` {t['distinct_per_channel']} distinct values in a channel")
    return bad


def summarize(stats: dict[str, Any]) -> dict[str, Any]:
    """The table's numbers from tflite_stats: Conv2D/FC kernels and depthwise kernels apart."""
    main = [t for t in stats["tensors"] if t["op"] != "DEPTHWISE_CONV_2D"]
    dw = [t for t in stats["tensors"] if t["op"] == "DEPTHWISE_CONV_2D"]
    s: dict[str, Any] = {"float_ops": stats["float_ops"]}
    if main:
        s["min_sparsity"] = min(t["sparsity"] for t in main)
        s["all_sparsity"] = sum(t["zeros"] for t in main) / sum(t["size"] for t in main)
        s["max_distinct"] = max(t["distinct_per_channel"] for t in main)
        s["dtypes"] = sorted({t["dtype"] for t in stats["tensors"]})
    if dw:
        s["dw_max_sparsity"] = max(t["sparsity"] for t in dw)
        s["dw_max_distinct"] = max(t["distinct_per_channel"] for t in dw)
    return s


# ----------------------------------------------------------------------------- shared driver


def first_line(exc: BaseException) -> str:
    """The error's first line; for tf-keras' "Exception encountered when calling layer"
    wrapper, also the wrapped error's line."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if text.startswith("Exception encountered") and len(lines) > 1:
        text += " " + lines[1]
    return f"{type(exc).__name__}: {text}"


def epochs_for(kind: str, cfg: dict[str, Any]) -> tuple[float, int]:
    return {
        "float": (cfg["float_lr"], cfg["float_epochs"]),
        "finetune": (cfg["finetune_lr"], cfg["finetune_epochs"]),
        "qat": (cfg["qat_lr"], cfg["qat_epochs"]),
    }[kind]


def run_stages(side, key: str, cfg: dict[str, Any], tag: str) -> dict[str, Any]:
    """Every stage of STAGES for one model with one tool. `side` provides build, wrap,
    finish, fit, predict, export; returns {"columns": {stage: result}, "notes": [...]}."""
    from qgraph.demo import accuracy_in_litert

    x_train, y_train, x_test, y_test = load_data(key, cfg["data"])
    calib = x_train[: cfg["calib"]]
    out: dict[str, Any] = {"columns": {}, "notes": []}
    models: dict[str, Any] = {}
    t_model = time.perf_counter()
    for stage, source, wrap, epoch_kind, export in STAGES:
        r: dict[str, Any] = {}
        out["columns"][stage] = r
        if source is not None and source not in models:
            r["error"] = f"not run: the {source} stage failed"
            continue
        try:
            lr, epochs = epochs_for(epoch_kind, cfg)
            log(f"[{tag} {key}] {stage}: {wrap}, fit {epochs} epochs at lr {lr:g}")
            side.seed()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0, untimed0 = time.perf_counter(), side.untimed_s()
                model = (
                    side.build(key) if source is None else side.wrap(wrap, models[source], key, out["notes"])
                )
                r["wrap_s"] = time.perf_counter() - t0 - (side.untimed_s() - untimed0)
            if wrap != "float":
                for w in caught:
                    out["notes"].append(
                        f"{stage}: warning while wrapping: {' '.join(str(w.message).split())}"
                    )
            r["epoch_s"] = side.fit(model, x_train, y_train, lr, epochs, wrap)
            r["train_s"] = sum(r["epoch_s"])
            t0 = time.perf_counter()
            model = side.finish(model, wrap, key)
            r["wrap_s"] += time.perf_counter() - t0
            r["keras_acc"] = accuracy(side.predict(model, x_test), y_test)
            models[stage] = model
            if export is None:
                continue
            t0 = time.perf_counter()
            data = side.export(model, export, calib)
            r["export_s"] = time.perf_counter() - t0
            path = os.path.join(cfg["tflite_dir"], f"{tag}_{key}_{stage}.tflite")
            with open(path, "wb") as f:
                f.write(data)
            r["file"] = path
            acc, _, io_dtype = accuracy_in_litert(data, x_test, y_test)
            r["int8_acc"], r["io"] = acc, io_dtype
            r["bytes"], r["gzip"] = len(data), len(gzip.compress(data, 9))
            stats = tflite_stats(data)
            r["stats"] = summarize(stats)
            r["tensors"] = stats["tensors"]
            if stage in CONSTRAINTS:
                r["violations"] = violations(stage, stats["tensors"])
                kernels = sum(t["op"] != "DEPTHWISE_CONV_2D" for t in stats["tensors"])
                r["kept"] = f"{kernels - len({v.split('`')[1] for v in r['violations']})} of {kernels}"
                for v in r["violations"]:
                    out["notes"].append(f"{stage}: constraint not met in the .tflite: {v}")
        except Exception as e:  # noqa: BLE001 -- reported in the table and with a traceback on stderr
            traceback.print_exc()
            r["error"] = first_line(e)
    out["total_s"] = time.perf_counter() - t_model
    out["notes"] = list(dict.fromkeys(out["notes"]))
    return out


# ----------------------------------------------------------------------------- tfmot worker


def tfmot_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs with TF_USE_LEGACY_KERAS=1: tf-keras 2 + tfmot."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras
    from tensorflow_model_optimization.python.core.clustering.keras.experimental import (
        cluster as experimental_cluster,
    )
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    Q = tfmot.quantization.keras
    S = tfmot.sparsity.keras
    C = tfmot.clustering.keras
    combine = tfmot.experimental.combine
    seed = cfg["seed"]

    def schedule():
        return S.ConstantSparsity(0.5, begin_step=0, end_step=-1, frequency=100)

    def copy(model, key):
        """A fresh model of the same architecture with `model`'s weights (by layer name):
        tfmot's wrappers modify the layers they wrap, and strip returns those layers."""
        fresh = build(key, keras)
        by_name = {layer.name: layer for layer in model.layers}
        for layer in fresh.layers:
            if layer.get_weights():
                layer.set_weights(by_name[layer.name].get_weights())
        return fresh

    untimed = [0.0]  # seconds spent in as_is(): not part of the timed route

    def as_is(notes, stage, fn):
        """What a user tries first, on a throwaway copy; the refusal goes to the notes.
        Untimed: the route actually taken (the same call, or the workaround) is timed."""
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 -- report whatever tfmot raises
            notes.append(f"{stage}: tfmot refused the model as is: {first_line(e)}")
            return False
        finally:
            untimed[0] += time.perf_counter() - t0
        return True

    def prune_supported(model):
        def wrap(layer):
            if PruneRegistry.supports(layer):
                return S.prune_low_magnitude(layer, pruning_schedule=schedule())
            return layer.__class__.from_config(layer.get_config())

        return keras.models.clone_model(model, clone_function=wrap)

    def quantize(model, key, scheme, notes, stage):
        def plain():
            annotated = Q.quantize_annotate_model(copy(model, key))
            return Q.quantize_apply(annotated) if scheme is None else Q.quantize_apply(annotated, scheme)

        if as_is(notes, stage, plain):
            return plain()
        notes.append(
            f"{stage}: used quantize_annotate_layer on every layer (Rescaling: output-only "
            "QuantizeConfig) + quantize_apply"
        )
        return quantize_every_layer(copy(model, key), scheme)

    class Side:
        def seed(self):
            keras.utils.set_random_seed(seed)

        def untimed_s(self):
            return untimed[0]

        def build(self, key):
            return build(key, keras, cfg["init"][key])

        def wrap(self, kind, model, key, notes):
            KPP = C.CentroidInitialization.KMEANS_PLUS_PLUS
            if kind == "prune":

                def plain():
                    return S.prune_low_magnitude(copy(model, key), pruning_schedule=schedule())

                if as_is(notes, "pruned", plain):
                    return plain()
                notes.append(
                    "pruned: used prune_low_magnitude on the layers PruneRegistry supports "
                    "(clone_model with a clone_function), the others unchanged"
                )
                return prune_supported(copy(model, key))
            if kind == "cluster":
                return C.cluster_weights(copy(model, key), number_of_clusters=16, cluster_centroids_init=KPP)
            if kind == "cluster_pc":
                return experimental_cluster.cluster_weights(
                    copy(model, key),
                    number_of_clusters=16,
                    cluster_centroids_init=KPP,
                    cluster_per_channel=True,
                )
            if kind == "cluster_sparse":
                return experimental_cluster.cluster_weights(
                    copy(model, key), number_of_clusters=8, cluster_centroids_init=KPP, preserve_sparsity=True
                )
            stage = {"qat": "qat", "pqat": "pqat", "cqat": "cqat", "pcqat": "pcqat"}[kind]
            scheme = {
                "qat": None,
                "pqat": combine.Default8BitPrunePreserveQuantizeScheme(),
                "cqat": combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False),
                "pcqat": combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True),
            }[kind]
            return quantize(model, key, scheme, notes, stage)

        def fit(self, model, x, y, lr, epochs, kind):
            keras.utils.set_random_seed(seed)
            model.compile(
                optimizer=keras.optimizers.Adam(lr),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            timer = epoch_timer(keras.callbacks.Callback)
            callbacks = [timer, S.UpdatePruningStep()] if kind == "prune" else [timer]
            model.fit(x, y, epochs=epochs, batch_size=cfg["batch_size"], verbose=0, callbacks=callbacks)
            return timer.times

        def finish(self, model, kind, key):
            if kind == "prune":
                return copy(S.strip_pruning(model), key)
            if kind.startswith("cluster"):
                return copy(C.strip_clustering(model), key)
            return model

        def predict(self, model, x):
            return model.predict(x, verbose=0)

        def export(self, model, kind, calib):
            c = tf.lite.TFLiteConverter.from_keras_model(model)
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            if kind == "ptq":
                c.representative_dataset = lambda: ([s[None]] for s in calib)
                c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            with contextlib.redirect_stdout(io.StringIO()):
                return c.convert()

    side = Side()
    return {"models": {key: run_stages(side, key, cfg, "tfmot") for key in cfg["models"]}}


def run_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "tfmot", "--worker-config", json.dumps(cfg)]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)  # stderr: inherited (progress)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return {"error": f"tfmot worker exited with code {proc.returncode} and no result line"}


# ----------------------------------------------------------------------------- qgraph side


class QgraphSide:
    def __init__(self, cfg: dict[str, Any]):
        import keras

        import qgraph

        self.keras, self.qgraph, self.cfg = keras, qgraph, cfg

    def seed(self):
        self.keras.utils.set_random_seed(self.cfg["seed"])

    def untimed_s(self):
        return 0.0

    def build(self, key):
        return build(key, init=self.cfg["init"][key])

    def wrap(self, kind, model, key, notes):
        q = self.qgraph
        if kind == "prune":
            return q.prune(model, sparsity=0.5, schedule="constant", begin_step=0, end_step=-1, frequency=100)
        if kind == "cluster":
            return q.cluster(model, clusters=16, init="kmeans++", per_channel=False)
        if kind == "cluster_pc":
            return q.cluster(model, clusters=16, init="kmeans++", per_channel=True)
        if kind == "cluster_sparse":
            return q.cluster(model, clusters=8, init="kmeans++", preserve_sparsity=True)
        preserve = {
            "qat": (),
            "pqat": ("sparsity",),
            "cqat": ("clusters",),
            "pcqat": ("sparsity", "clusters"),
        }[kind]
        return q.quantize_model(model, preserve=preserve) if preserve else q.quantize_model(model)

    def fit(self, model, x, y, lr, epochs, kind):
        keras = self.keras
        keras.utils.set_random_seed(self.cfg["seed"])
        model.compile(
            optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        timer = epoch_timer(keras.callbacks.Callback)
        model.fit(x, y, epochs=epochs, batch_size=self.cfg["batch_size"], verbose=0, callbacks=[timer])
        return timer.times

    def finish(self, model, kind, key):
        return model

    def predict(self, model, x):
        return model.predict(x, verbose=0)

    def export(self, model, kind, calib):
        if kind == "ptq":
            return self.qgraph.compile(model, quantize="int8", representative_data=calib).tflite
        return self.qgraph.compile(model).tflite


def qgraph_missing() -> str | None:
    """None when the qgraph API this bench needs is importable, else what is missing."""
    import inspect

    import qgraph

    missing = [n for n in ("prune", "cluster") if not hasattr(qgraph, n)]
    if "preserve" not in inspect.signature(qgraph.quantize_model).parameters:
        missing.append("quantize_model(preserve=...)")
    return ", ".join(missing) or None


def cross_check(results: dict[str, Any]) -> list[str]:
    """Run qgraph.compress.stats.weight_stats (if it exists) on every written file and list
    where it disagrees with the flatbuffer reading above."""
    try:
        from qgraph.compress.stats import weight_stats
    except ImportError as e:
        return [f"qgraph.compress.stats.weight_stats not available ({first_line(e)}); not cross-checked"]
    import qgraph

    issues: list[str] = []
    checked = 0
    for tool, res in results.items():
        for key, m in res.get("models", {}).items():
            for stage, r in m["columns"].items():
                if "file" not in r:
                    continue
                try:
                    theirs = {s.tensor: s for s in weight_stats(qgraph.load(r["file"]))}
                except Exception as e:  # noqa: BLE001
                    issues.append(f"{tool} {key} {stage}: weight_stats failed: {first_line(e)}")
                    continue
                for t in r["tensors"]:
                    s = theirs.get(t["tensor"])
                    checked += 1
                    if s is None:
                        issues.append(f"{tool} {key} {stage}: {t['tensor']} not in weight_stats")
                        continue
                    per_ch = s.distinct_per_channel
                    per_ch = max(per_ch) if isinstance(per_ch, (list, tuple)) else per_ch
                    if abs(float(s.sparsity) - t["sparsity"]) > 1e-9 or per_ch != t["distinct_per_channel"]:
                        issues.append(
                            f"{tool} {key} {stage} {t['tensor']}: weight_stats sparsity {float(s.sparsity):.4f}, "
                            f"distinct/channel {per_ch}; flatbuffer {t['sparsity']:.4f}, {t['distinct_per_channel']}"
                        )
    return issues or [f"qgraph.compress.stats.weight_stats agrees on all {checked} weight tensors"]


# ----------------------------------------------------------------------------- report


def pct(v: float) -> str:
    return f"{v:.2%}"


def cell(r: dict[str, Any], f: Callable[[dict[str, Any]], str]) -> str:
    if "error" in r and "keras_acc" not in r:
        return "failed"
    try:
        return f(r)
    except (KeyError, TypeError, ValueError):
        return "failed" if "error" in r else "n/a"


ROWS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Keras Top-1 accuracy (float; QAT columns: fake-quant)", lambda r: pct(r["keras_acc"])),
    ("**INT8 full integer quantization, LiteRT Top-1 accuracy**", lambda r: f"**{pct(r['int8_acc'])}**"),
    ("INT8 .tflite (bytes), I/O type", lambda r: f"{r['bytes']:,}, {r['io']}"),
    ("**INT8 .tflite gzip compression (bytes)**", lambda r: f"**{r['gzip']:,}**"),
    (
        "kernel sparsity, Conv2D/FC: min over tensors (all weights)",
        lambda r: f"{pct(r['stats']['min_sparsity'])} ({pct(r['stats']['all_sparsity'])})",
    ),
    ("kernel sparsity, depthwise: max over tensors", lambda r: pct(r["stats"]["dw_max_sparsity"])),
    ("max distinct int8 values per channel, Conv2D/FC", lambda r: str(r["stats"]["max_distinct"])),
    ("max distinct int8 values per channel, depthwise", lambda r: str(r["stats"]["dw_max_distinct"])),
    (
        "Conv2D/FC kernels keeping the column's constraint (sparsity >= 50% / <= 16 or 8 values per channel)",
        lambda r: r.get("kept", "-"),
    ),
    ("ops computing in float", lambda r: str(len(r["stats"]["float_ops"]))),
    (
        "time (s): wrap + fine-tune + export",
        lambda r: f"{fmt_s(r['wrap_s'])} + {fmt_s(r['train_s'])} + {fmt_s(r['export_s'])}",
    ),
)


def tool_table(m: dict[str, Any]) -> str:
    cols = m["columns"]
    lines = ["| Items | " + " | ".join(h for _, h in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for label, f in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(cols.get(k, {}), f) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def compare_table(q: dict[str, Any], t: dict[str, Any]) -> str:
    def both(k, f):
        a, b = q["columns"].get(k, {}), t["columns"].get(k, {})
        try:
            return f(a, b)
        except (KeyError, TypeError, ZeroDivisionError):
            return "n/a"

    def total(r):
        return r["wrap_s"] + r["train_s"] + r["export_s"]

    rows = (
        (
            "Keras accuracy, qgraph - tfmot (points)",
            lambda a, b: f"{(a['keras_acc'] - b['keras_acc']) * 100:+.2f}",
        ),
        (
            "**INT8 LiteRT accuracy, qgraph - tfmot (points)**",
            lambda a, b: f"**{(a['int8_acc'] - b['int8_acc']) * 100:+.2f}**",
        ),
        ("**gzip bytes, qgraph / tfmot**", lambda a, b: f"**{a['gzip'] / b['gzip']:.3f}**"),
        (".tflite bytes, qgraph / tfmot", lambda a, b: f"{a['bytes'] / b['bytes']:.3f}"),
        ("time (wrap + fine-tune + export), qgraph / tfmot", lambda a, b: f"{total(a) / total(b):.2f}x"),
    )
    lines = [
        "| qgraph vs tfmot | " + " | ".join(h for _, h in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for label, f in rows:
        lines.append(f"| {label} | " + " | ".join(both(k, f) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def notes_block(m: dict[str, Any]) -> list[str]:
    notes = list(m.get("notes", []))
    for k, r in m["columns"].items():
        if "error" in r:
            notes.append(f"{k}: {r['error']}")
    pc = m["columns"].get("pc", {})
    if "keras_acc" in pc:
        notes.append(
            f"pc (pruned -> 8 clusters keeping zeros, PCQAT's start): float Keras accuracy "
            f"{pct(pc['keras_acc'])}; wrap {fmt_s(pc['wrap_s'])} s, fine-tune {fmt_s(pc['train_s'])} s"
        )
    return notes


def tensors_block(m: dict[str, Any]) -> str:
    lines = [
        "| column | tensor | op | shape | dtype | sparsity | distinct | max distinct/channel |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for k, _ in COLUMNS:
        for t in m["columns"].get(k, {}).get("tensors", []):
            lines.append(
                f"| {k} | `{t['tensor']}` | {t['op']} | {'x'.join(map(str, t['shape']))} | {t['dtype']} "
                f"| {pct(t['sparsity'])} | {t['distinct']} | {t['distinct_per_channel']} |"
            )
    return "\n".join(lines)


def timing_table(q: dict[str, Any] | None, t: dict[str, Any]) -> str:
    """Per stage and tool: wrap, each epoch, export (s). The first epoch includes tracing."""

    def cell_for(m, stage):
        r = (m or {}).get("columns", {}).get(stage)
        if not r or "epoch_s" not in r:
            return "n/a" if not r or "error" not in r else "failed"
        epochs = ", ".join(fmt_s(v) for v in r["epoch_s"])
        export = f"; export {fmt_s(r['export_s'])}" if "export_s" in r else ""
        return f"wrap {fmt_s(r['wrap_s'])}; epochs {epochs}{export}"

    names = dict(COLUMNS) | {"pc": "PC (PCQAT's start, no export)"}
    lines = ["| stage | qgraph (s) | tfmot (s) |", "|---|---|---|"]
    for stage, *_ in STAGES:
        lines.append(f"| {names[stage]} | {cell_for(q, stage)} | {cell_for(t, stage)} |")
    return "\n".join(lines)


def section(key: str, q: dict[str, Any] | None, t: dict[str, Any], q_status: str, tensors: bool) -> str:
    parts = [f"### {PRETTY[key]}"]
    for name, m in (("qgraph (Keras 3)", q), ("tfmot + TFLite converter (tf-keras 2)", t)):
        if m is None:
            parts.append(f"**{name}**: not run ({q_status})")
            continue
        if "columns" not in m:
            parts.append(f"**{name}**: failed: {m.get('error', 'no result')}")
            continue
        block = f"**{name}** (all stages {fmt_s(m['total_s'])} s)\n\n" + tool_table(m)
        notes = notes_block(m)
        if notes:
            block += "\n\n" + "\n".join(f"- {n}" for n in notes)
        if tensors:
            block += "\n\n" + tensors_block(m)
        parts.append(block)
    if q is not None and "columns" in q and "columns" in t:
        parts.append(compare_table(q, t))
    parts.append(timing_table(q, t))
    return "\n\n".join(parts)


def pruning_note(n_train: int, batch_size: int, epochs: int, frequency: int = 100) -> str:
    """When each tool recomputes the pruning masks in this run's pruning fine-tune
    (ConstantSparsity / schedule="constant", begin_step=0, end_step=-1, frequency=100)."""
    steps = -(-n_train // batch_size) * epochs
    tfmot = [s for s in range(frequency, steps + 1, frequency)]  # tfmot's counter is 1 at the first batch
    qgraph = list(range(0, steps, frequency))  # qgraph's counter is 0 at the first batch
    return (
        f"Pruning fine-tune: {steps} training steps. Masks are recomputed by tfmot at its step(s) "
        f"{tfmot or 'none'} (UpdatePruningStep sets the counter to 0 and the wrapper increments it "
        f"before the schedule check, so the first batch is step 1 and with begin_step=0 the first "
        f"pruning happens at step {frequency}; "
        + (
            "this fit is too short for tfmot to prune at all"
            if not tfmot
            else f"{steps - tfmot[0]} steps of fine-tuning follow the first pruning"
        )
        + f"), by qgraph at step(s) {qgraph} (0 at the first batch)."
    )


# ----------------------------------------------------------------------------- main


def run_seed(
    args: argparse.Namespace, seed: int, q_status: str | None
) -> tuple[dict[str, Any], list[str], int]:
    """Both tools on every model for one seed: data split, initial weights, shuffling.
    Returns ({tool: {"models": ...}}, the weight-statistics cross-check, training samples)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qgraph_collab_bench_") as workdir:
        tflite_dir = os.path.join(args.save_tflite, f"seed{seed}") if args.save_tflite else workdir
        os.makedirs(tflite_dir, exist_ok=True)
        data_path = os.path.join(workdir, "data.npz")
        write_data(seed, data_path)
        n_train = len(load_data("concat", data_path)[1])
        init = {key: os.path.join(workdir, f"init_{key}.npz") for key in args.models}
        for key, path in init.items():
            write_initial_weights(key, seed, path)
        cfg = {
            "seed": seed,
            "models": args.models,
            "float_epochs": args.float_epochs,
            "float_lr": args.float_lr,
            "finetune_epochs": args.finetune_epochs,
            "finetune_lr": args.finetune_lr,
            "qat_epochs": args.qat_epochs,
            "qat_lr": args.qat_lr,
            "batch_size": args.batch_size,
            "calib": args.calib,
            "data": data_path,
            "init": init,
            "tflite_dir": tflite_dir,
        }
        if "tfmot" in args.tools:
            log(f"[tfmot] seed {seed}: subprocess with TF_USE_LEGACY_KERAS=1")
            results["tfmot"] = run_worker(cfg)
        if not q_status:
            side = QgraphSide(cfg)
            results["qgraph"] = {"models": {key: run_stages(side, key, cfg, "qgraph") for key in args.models}}
        checks = [f"seed {seed}: {c}" for c in cross_check(results)]
    return results, checks, n_train


def seeds_table(runs: list[dict[str, Any]], seeds: list[int], models: list[str]) -> str:
    """Per model and column over the seeds: each tool's int8 LiteRT accuracy (mean ± standard
    deviation, points), the mean paired difference and the mean gzip ratio."""
    import numpy as np

    def values(tool, key, stage, f):
        out = []
        for res in runs:
            r = res.get(tool, {}).get("models", {}).get(key, {}).get("columns", {}).get(stage, {})
            try:
                out.append(f(r))
            except (KeyError, TypeError):
                return None
        return np.array(out, np.float64)

    def msd(v):
        return "n/a" if v is None else f"{v.mean():.2f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.2f}"

    lines = [
        f"### Over seeds {', '.join(map(str, seeds))}: INT8 LiteRT accuracy (%, mean ± sd) and gzip ratio",
        "",
        "| model | | " + " | ".join(h for _, h in COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for key in models:
        acc = {
            t: {k: values(t, key, k, lambda r: r["int8_acc"] * 100) for k, _ in COLUMNS}
            for t in ("qgraph", "tfmot")
        }
        gz = {
            t: {k: values(t, key, k, lambda r: float(r["gzip"])) for k, _ in COLUMNS}
            for t in ("qgraph", "tfmot")
        }
        rows = (
            ("qgraph", [msd(acc["qgraph"][k]) for k, _ in COLUMNS]),
            ("tfmot", [msd(acc["tfmot"][k]) for k, _ in COLUMNS]),
            (
                "Δ points (paired)",
                [
                    "n/a"
                    if acc["qgraph"][k] is None or acc["tfmot"][k] is None
                    else msd(acc["qgraph"][k] - acc["tfmot"][k])
                    for k, _ in COLUMNS
                ],
            ),
            (
                "gzip ratio",
                [
                    "n/a"
                    if gz["qgraph"][k] is None or gz["tfmot"][k] is None
                    else f"{(gz['qgraph'][k] / gz['tfmot'][k]).mean():.3f}"
                    for k, _ in COLUMNS
                ],
            ),
        )
        for i, (label, cells) in enumerate(rows):
            lines.append(f"| {PRETTY[key] if i == 0 else ''} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=["concat", "plain"],
        help="concat = digits_cnn(concat=True), plain = digits_cnn(concat=False), dscnn = DS-CNN-L "
        "(adds about 16 minutes on 2 cores, mostly tfmot's tracing and export of per-channel "
        "clustering and CQAT) (default: %(default)s)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds for data split, initial weights and shuffling; with several, a table of means "
        "and standard deviations over the seeds comes first (default: %(default)s)",
    )
    p.add_argument(
        "--float-epochs", type=int, default=8, help="baseline training epochs (default: %(default)s)"
    )
    p.add_argument(
        "--float-lr", type=float, default=3e-3, help="baseline Adam learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=3,
        help="pruning / clustering fine-tuning epochs (default: %(default)s)",
    )
    p.add_argument(
        "--finetune-lr",
        type=float,
        default=1e-3,
        help="pruning / clustering Adam learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--qat-epochs", type=int, default=3, help="QAT / PQAT / CQAT / PCQAT epochs (default: %(default)s)"
    )
    p.add_argument(
        "--qat-lr", type=float, default=1e-4, help="QAT-family Adam learning rate (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="batch size everywhere (default: %(default)s)")
    p.add_argument("--calib", type=int, default=100, help="PTQ calibration samples (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="1 epoch for every fit (smoke test)")
    p.add_argument(
        "--tools",
        nargs="+",
        choices=["qgraph", "tfmot"],
        default=["qgraph", "tfmot"],
        help="which sides to run (default: both)",
    )
    p.add_argument("--tensors", action="store_true", help="also print every weight tensor's statistics")
    p.add_argument("--save-tflite", metavar="DIR", help="keep every .tflite in DIR")
    p.add_argument("--markdown", metavar="PATH", help="also write the Markdown tables to PATH")
    p.add_argument("--worker", choices=["tfmot"], help=argparse.SUPPRESS)
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        cfg = json.loads(args.worker_config or "{}")
        print(RESULT_PREFIX + json.dumps(tfmot_worker(cfg)), flush=True)
        return 0

    if args.quick:
        args.float_epochs = args.finetune_epochs = args.qat_epochs = 1

    env = environment(("tf-keras", "tensorflow-model-optimization"))
    print("# qgraph collaborative optimization benchmark: qgraph vs tfmot\n")
    for line in env:
        print(f"- {line}")
    print(
        f"- seeds {', '.join(map(str, args.seeds))}; baseline {args.float_epochs} epochs Adam {args.float_lr:g}; prune/cluster "
        f"fine-tune {args.finetune_epochs} epochs Adam {args.finetune_lr:g}; QAT family {args.qat_epochs} "
        f"epochs Adam {args.qat_lr:g}; batch {args.batch_size}; PTQ calibration {args.calib} samples\n",
        flush=True,
    )

    t_start = time.perf_counter()
    q_status = qgraph_missing() if "qgraph" in args.tools else "not requested (--tools)"
    if q_status and "qgraph" in args.tools:
        q_status = f"the qgraph API is not there yet: missing {q_status}"
        log(f"[qgraph] {q_status}; running the tfmot side only")
    runs = [run_seed(args, seed, q_status) for seed in args.seeds]
    results, checks, n_train = runs[0]

    sections = ["- " + pruning_note(n_train, args.batch_size, args.finetune_epochs)]
    if len(args.seeds) > 1:
        sections.append(seeds_table([r for r, _, _ in runs], args.seeds, args.models))
        sections.append(f"The per-stage tables below are seed {args.seeds[0]}'s.")
    for key in args.models:
        q = results["qgraph"]["models"].get(key) if "qgraph" in results else None
        t = (
            results.get("tfmot", {})
            .get("models", {})
            .get(key, {"error": results.get("tfmot", {}).get("error", "not run (--tools)")})
        )
        sections.append(section(key, q, t, q_status or "", args.tensors))
    sections.append("Weight statistics cross-check: " + "; ".join(c for _, found, _ in runs for c in found))
    md = "\n\n".join(sections)
    print(md)
    print(
        f"\nwall time: total {time.perf_counter() - t_start:.0f} s; load average at end (1/5/15 min): {loadavg()}"
    )
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n\n")
            f.write("Environment: " + "; ".join(env) + "\n")
        print(f"\ntables written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
