"""Refactors keep the bytes: a few representative files, written by every quantize mode and
target, must hash to the digests pinned before the op-registry refactor (issue 8).

A deliberate change of the written bytes updates the digests here, in the same commit that
explains why: `QGRAPH_PRINT_DIGESTS=1 pytest tests/test_golden_files.py -s` prints them.
Last re-pinned in issue 9: the zoo models got BatchNorm statistics from data and
concat_nested pixel inputs (the old reference was the same for every sample), and int8
concat-linked tensors now share one calibrated scale (`unify_concat_scales`).
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
    "concat_nested-cpu-float": "f77e207108128754cff608662ff59088886775580b869faa4859fa9fcd5e0f0b",
    "concat_nested-cpu-float16": "7de58040cc0ff8df1bd05c9aebffc82c85bcec41c88355ab47c4811a58ff0f14",
    "concat_nested-cpu-dynamic": "b6284120efa78debe8b6b79d526e03f787b2bc3c6aa7a459037402778d8d1092",
    "concat_nested-cpu-int8": "e3b87da896c9ce1362e15513b04c50052515ccfbee1170de10fcdee6b48acfa7",
    "layer_zoo-cpu-float": "c7e2005b0e4aab1218dd538a037ce63a0b8f868091d23965ebfe62efd8b8d132",
    "layer_zoo-cpu-int8-io_dtype=int8": "49704e360660ab5fe7795c1079da980ced904ca96596885db890df448fbfcd86",
    # issue 13: the EdgeTPU takes static shapes only, so its files are written with batch 1.
    "concat_nested-edgetpu-int8-io_dtype=uint8": "8b7482505d51e274c4ae5d5ea3e8816aae4a8702fb6d082f2a6319093f53887b",
    "layer_zoo-nnapi-int8-api_level=28": "50c48953e4f38a1db39dd0a739f1ff705ea15a7ea94751416c9a4ee97c112323",
    "concat_nested-qat-int8": "1d6aa57f1c19d3b30d020dc47a57eb1756d4b6683a10f3ef7bad83a0409165f7",
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
