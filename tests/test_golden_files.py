"""Refactors keep the bytes: a few representative files, written by every quantize mode and
target, must hash to the digests pinned before the op-registry refactor (issue 8).

A deliberate change of the written bytes updates the digests here, in the same commit that
explains why: `QGRAPH_PRINT_DIGESTS=1 pytest tests/test_golden_files.py -s` prints them.
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
    "concat_nested-cpu-float": "835ea0e8939bec5b86999d5f879fcb39ac3cac3fa78cc685d50e2fca5b4ea808",
    "concat_nested-cpu-float16": "f57822edbd5616b8e3e3dc9ea5054ccfe4d1786ff9b3b20ff36edd1db9e69e87",
    "concat_nested-cpu-dynamic": "15e49a5fb806636305207efa7627e4d1ed24c3b993f966ef45e39ce375d05850",
    "concat_nested-cpu-int8": "c0a0e93f18bf6432d5b4f1e5cfd03b3589ca367f71d72bdbd992ed0ace9cd629",
    "layer_zoo-cpu-float": "feaf92d006289d9a4a3459506ada993ec95dea22b7043e3eedc40bf87574d0d6",
    "layer_zoo-cpu-int8-io_dtype=int8": "b76b8a8804c0c58fb5ae0bdbaf854da1616ad9c59d1f67230bf4446119a2ef85",
    "concat_nested-edgetpu-int8-io_dtype=uint8": "3109884585cfd12761b0534baa0ee9c6312929228f552429a106aa1df247a1f5",
    "layer_zoo-nnapi-int8-api_level=28": "d75b945d1b7fa38b5b050a22234fbee6c71413fe79a1f6269616d36601637227",
    "concat_nested-qat-int8": "9b54ba8a70c1eca0ffd6e624ea0a491e506f72b35331515c5fab6cb1f3bfba0c",
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
