"""Refactors keep the bytes: a few representative files, written by every quantize mode and
target, must hash to the digests pinned before the op-registry refactor (issue 8).

A deliberate change of the written bytes updates the digests here, in the same commit that
explains why: `QGRAPH_PRINT_DIGESTS=1 pytest tests/test_golden_files.py -s` prints them.
Last re-pinned in issue 9: the zoo models got BatchNorm statistics from data and
concat_nested pixel inputs (the old reference was the same for every sample), and int8
concat-linked tensors now share one calibrated scale (`unify_concat_scales`).
Re-pinned in issue 10's live-BatchNorm change: names only. `fold_constant_scale` no longer
copies a kernel when it folds a bias-only ADD, so `conv2d_4/kernel_1_1` is `conv2d_4/kernel_1`
(checked: every tensor's dtype, shape and quantization, and the op list, unchanged).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import qgraph
from tests.conftest import rel_err

#: (model, target, quantize, extra options) -> sha256 of the written file.
PINNED = {
    "concat_nested-cpu-float": "3ab60634e362a3df6bdadea6296e06f821fdea989905ea96ba6cddaaa5c391f7",
    "concat_nested-cpu-float16": "c69af85f84b2c27cb4e9405cac2a4deaca10847296382d152f252a1d1d53d804",
    "concat_nested-cpu-dynamic": "d99af186a8bdc85599c7bc65066f93d4184f986298d42c57dd55c0c76cdc79a6",
    "concat_nested-cpu-int8": "c8e090074952ef305a5644361ecee71eadc28fcaf4d4fe5850de6657b33156ba",
    "layer_zoo-cpu-float": "ef892f3546b35e499ea804a2a1bec03eccf75ca4d1bd7e1240a73480d11078cf",
    "layer_zoo-cpu-int8-io_dtype=int8": "2bb217817f828f6ab4c630ada60447d53aa957ff567e452ddd8e114e4bd74e30",
    # issue 13: the EdgeTPU takes static shapes only, so its files are written with batch 1.
    "concat_nested-edgetpu-int8-io_dtype=uint8": "041d42ea375062a247eec3822df0edf38abbf8976b898c33d18d93625128cf46",
    "layer_zoo-nnapi-int8-api_level=28": "6b491b2e34f02208939796dfa36961f53aa32f2b09d0f2588276e56e344ca41f",
    "concat_nested-qat-int8": "897cd6ab6a5e5f7a38ad793d3b5de035f56aaaafb60720797b97cffdd1d7a0f5",
}

CASES = [
    ("concat_nested", "cpu", "float", {}),
    ("concat_nested", "cpu", "float16", {}),
    ("concat_nested", "cpu", "dynamic", {}),
    ("concat_nested", "cpu", "int8", {}),
    ("layer_zoo", "cpu", "float", {}),
    ("layer_zoo", "cpu", "int8", {"io_dtype": "int8"}),
    ("concat_nested", "edgetpu", "int8", {"io_dtype": "uint8"}),
    ("layer_zoo", "nnapi", "int8", {"api_level": 28}),
    ("concat_nested", "qat", "int8", {}),
]


def _case_id(case) -> str:
    model, target, quantize, options = case
    return "-".join([model, target, quantize, *(f"{k}={v}" for k, v in options.items())])


def golden_results() -> dict[str, dict]:
    """Compile every case in a fresh process: Keras names layers by a process-wide counter,
    so the bytes (tensor names) would otherwise depend on which tests ran before."""
    from tests.conftest import ModelZoo

    zoo, results = ModelZoo(), {}
    for case in CASES:
        name, target, quantize, options = case
        model = zoo.get(name)
        calibration = zoo.sample(model, n=8, seed=3)
        if target == "qat":
            source, target = qgraph.quantize_model(model, representative_data=calibration), "cpu"
        else:
            source = model
        extra = {"representative_data": calibration} if quantize == "int8" and source is model else {}
        result = qgraph.compile(source, target=target, quantize=quantize, **extra, **options)
        # The file is a real model, not just stable bytes: LiteRT runs it close to Keras (a QAT
        # model computes what its fake-quant simulates: the export is compared with it).
        x = zoo.sample(model, n=2, seed=4)
        reference = source.predict(x, verbose=0)
        results[_case_id(case)] = {
            "digest": hashlib.sha256(result.tflite).hexdigest(),
            "spread": float(np.ptp(reference)),
            "rel_err": rel_err(_run(result.tflite, x), reference),
        }
    return results


@pytest.fixture(scope="module")
def golden():
    code = "import json, tests.test_golden_files as g; print(json.dumps(g.golden_results()))"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_written_bytes_are_pinned(golden, case):
    got = golden[_case_id(case)]
    if os.environ.get("QGRAPH_PRINT_DIGESTS") == "1":
        print(f"\n    {_case_id(case)!r}: {got['digest']!r},")
    assert got["spread"] > 1e-2, "the reference output is near constant: the comparison means nothing"
    tolerance = 1e-4 if case[2] == "float" else 0.35
    assert got["rel_err"] < tolerance
    assert got["digest"] == PINNED[_case_id(case)], f"{_case_id(case)}: the written bytes changed"


def _run(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """LiteRT outputs as floats, quantizing integer inputs and dequantizing integer outputs."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for sample in x:
        value = sample[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            value = np.clip(np.round(value / scale) + zero, info.min, info.max)
        interp.set_tensor(inp["index"], value.astype(inp["dtype"]))
        interp.invoke()
        y = interp.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y - zero) * scale
        results.append(y)
    return np.concatenate(results)
