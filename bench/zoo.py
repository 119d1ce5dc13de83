"""Every keras.applications architecture through qgraph and TFLiteConverter, in one run.

    python bench/zoo.py                          # all 40 (about an hour on 2 cores)
    python bench/zoo.py --only MobileNetV3Small DenseNet121
    python bench/zoo.py --markdown /tmp/zoo.md   # also write the table

See `--help` for what is measured.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import gc
import statistics
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np
from bench_env import environment, log  # bench/ is the script's folder

DESCRIPTION = """\
For each keras.applications constructor (weights=None, 10 classes, logits, at the
reduced input size of qgraph.testing.APPLICATION_SIZES; nothing is downloaded):
  1. qgraph.testing.application_model: BatchNorm statistics set from 20 calibration
     samples (uniform [0, 1), x255 for the models that rescale inside), 8 held-out samples.
  2. float: qgraph.compile(model, "cpu") and TFLiteConverter; max relative error of
     each file in LiteRT against Keras on the held-out samples.
  3. int8: qgraph.compile(model, "cpu", "int8", representative_data=calibration) and
     TFLiteConverter (Optimize.DEFAULT + the same samples, float I/O); SQNR against Keras.
  4. size of the int8 files; LiteRT latency of the int8 files (1 thread, batch 1,
     median of --runs invokes after 3 warm-ups, the two tools interleaved).
Compile times are one call each (the first qgraph call of the run pays one-off costs).
Verdicts: float ok when within 1e-4 relative or within 2x the converter's deviation;
int8 ok when SQNR >= the converter's - 1 dB."""

ALL = [
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large",
    "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet101", "ResNet101V2", "ResNet152",
    "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16", "VGG19", "Xception",
]  # fmt: skip


@dataclass
class Row:
    name: str
    size: int = 0
    q_float_s: float = 0.0
    c_float_s: float = 0.0
    q_float_err: float = float("nan")
    c_float_err: float = float("nan")
    q_int8_s: float = 0.0
    c_int8_s: float = 0.0
    q_sqnr: float = float("nan")
    c_sqnr: float = float("nan")
    q_kb: float = 0.0
    c_kb: float = 0.0
    q_ms: float = float("nan")
    c_ms: float = float("nan")
    error: str = ""

    @property
    def float_ok(self) -> bool:
        return self.q_float_err <= max(1e-4, 2 * self.c_float_err)

    @property
    def int8_ok(self) -> bool:
        return self.q_sqnr >= self.c_sqnr - 1.0


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def latencies(files: dict[str, bytes], x: np.ndarray, runs: int) -> dict[str, float]:
    from ai_edge_litert.interpreter import Interpreter

    interps = {}
    for tool, data in files.items():
        it = Interpreter(model_content=data, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x[:1])
        for _ in range(3):
            it.invoke()
        interps[tool] = it
    samples: dict[str, list[float]] = {tool: [] for tool in files}
    for _ in range(runs):
        for tool, it in interps.items():
            t0 = time.perf_counter()
            it.invoke()
            samples[tool].append(time.perf_counter() - t0)
    return {tool: statistics.median(s) * 1000 for tool, s in samples.items()}


def measure(name: str, runs: int) -> Row:
    import qgraph
    from qgraph.testing import (
        application_model,
        converter_float,
        converter_int8,
        max_rel_err,
        run_litert,
        sqnr_db,
    )

    row = Row(name)
    model, calibration, held_out = application_model(name)
    row.size = int(model.inputs[0].shape[1])
    reference = model.predict(held_out, verbose=0)
    q_float, row.q_float_s = timed(lambda: qgraph.compile(model, "cpu").tflite)
    c_float, row.c_float_s = timed(converter_float, model)
    row.q_float_err = max_rel_err(run_litert(q_float, held_out), reference)
    row.c_float_err = max_rel_err(run_litert(c_float, held_out), reference)
    q_int8, row.q_int8_s = timed(
        lambda: qgraph.compile(model, "cpu", "int8", representative_data=calibration).tflite
    )
    c_int8, row.c_int8_s = timed(converter_int8, model, calibration)
    row.q_sqnr = sqnr_db(run_litert(q_int8, held_out), reference)
    row.c_sqnr = sqnr_db(run_litert(c_int8, held_out), reference)
    row.q_kb, row.c_kb = len(q_int8) / 1024, len(c_int8) / 1024
    lat = latencies({"qgraph": q_int8, "converter": c_int8}, held_out, runs)
    row.q_ms, row.c_ms = lat["qgraph"], lat["converter"]
    return row


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| model | input | float rel err qgraph / converter | int8 SQNR dB qgraph / converter | "
        "compile s float q / c | compile s int8 q / c | int8 KiB q / c | latency ms q / c | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.error:
            lines.append(f"| {r.name} | | | | | | | | FAILED: {r.error} |")
            continue
        verdict = ("float ok" if r.float_ok else "FLOAT") + ", " + ("int8 ok" if r.int8_ok else "INT8")
        lines.append(
            f"| {r.name} | {r.size} | {r.q_float_err:.2e} / {r.c_float_err:.2e} | {r.q_sqnr:.1f} / {r.c_sqnr:.1f} | "
            f"{r.q_float_s:.2f} / {r.c_float_s:.1f} | {r.q_int8_s:.2f} / {r.c_int8_s:.1f} | "
            f"{r.q_kb:.0f} / {r.c_kb:.0f} | {r.q_ms:.2f} / {r.c_ms:.2f} | {verdict} |"
        )
    return lines


def summary(rows: list[Row]) -> str:
    done = [r for r in rows if not r.error]
    speedup = [(r.c_float_s / r.q_float_s, r.c_int8_s / r.q_int8_s) for r in done]
    return (
        f"{len(done)}/{len(rows)} architectures compiled; "
        f"{sum(r.float_ok for r in done)} float within 1e-4 (or 2x the converter's deviation); "
        f"{sum(r.int8_ok for r in done)} int8 within 1 dB of the converter's SQNR; "
        f"median compile speedup float {statistics.median(s[0] for s in speedup):.1f}x, "
        f"int8 {statistics.median(s[1] for s in speedup):.1f}x; "
        f"median int8 latency ratio qgraph/converter {statistics.median(r.q_ms / r.c_ms for r in done):.2f}"
        if done
        else "nothing compiled"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="architectures to run (default: all 40)")
    parser.add_argument("--runs", type=int, default=20, help="timed LiteRT invokes per file (default 20)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table and summary to FILE")
    args = parser.parse_args(argv)
    names = args.only or ALL
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        parser.error(f"unknown architectures {unknown}; known: {', '.join(ALL)}")
    for line in environment():
        log(line)
    rows = []
    for name in names:
        log(f"{name} ...")
        try:
            rows.append(measure(name, args.runs))
        except Exception as e:  # one architecture's failure is a row, not the end of the run
            traceback.print_exc()
            rows.append(Row(name, error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
        log("  " + table(rows[-1:])[-1])
        import keras

        keras.backend.clear_session()  # 40 models in one process: free each before the next
        gc.collect()
    out = [*table(rows), "", summary(rows)]
    print("\n".join(out))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(out) + "\n")
    return 0 if all(not r.error for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
