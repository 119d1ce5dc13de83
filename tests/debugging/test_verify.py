"""`qgraph.verify` / `qgraph verify`: per-layer error of a .tflite against its Keras model.

The ranking is checked the way a user would rely on it: corrupting one layer's scale in an
otherwise good int8 file must put that layer first."""

from __future__ import annotations

import json
import math

import flatbuffers
import numpy as np
import pytest

import qgraph
from qgraph.cli import main
from qgraph.emit.schema import S
from qgraph.errors import ModelFileError, OptionError
from qgraph.testing import converter_int8, run_litert, sqnr_db


@pytest.fixture(scope="module")
def case(digits, tmp_path_factory):
    model, (x_train, _, x_test, _) = digits
    calib, held_out = x_train[:100], x_test[:200]
    int8 = qgraph.compile(model, quantize="int8", representative_data=calib).tflite
    folder = tmp_path_factory.mktemp("verify")
    model.save(folder / "digits.keras")
    (folder / "digits_int8.tflite").write_bytes(int8)
    np.save(folder / "held_out.npy", held_out)
    return model, calib, held_out, int8, folder


def run_builtin(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """The file's output with LiteRT's built-in kernels, no XNNPACK (the kernels verify runs,
    so that every intermediate tensor is really written), one sample at a time."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for sample in x:
        interp.set_tensor(inp["index"], sample[None])
        interp.invoke()
        results.append(interp.get_tensor(out["index"])[0])
    return np.stack(results)


def with_weight_scales_times(tflite: bytes, layer: str, factor: float) -> bytes:
    """The file with the weight and bias scales of the op writing `layer:0` multiplied by
    `factor`: that layer computes `factor` times its true pre-activation, the layers after it
    read its (wrong) output correctly."""
    model = S.ModelT.InitFromPackedBuf(tflite, 0)
    graph = model.subgraphs[0]
    (op,) = [op for op in graph.operators if graph.tensors[op.outputs[0]].name.decode() == f"{layer}:0"]
    for port in (1, 2):  # weights, bias
        q = graph.tensors[op.inputs[port]].quantization
        q.scale = [s * factor for s in q.scale]
    builder = flatbuffers.Builder(len(tflite))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("layer", ["stem_relu6", "dw_relu6", "side", "head_relu"])
def test_a_layer_with_corrupted_weight_scales_ranks_first(case, layer):
    model, _, x, int8, _ = case
    clean = qgraph.verify(model, int8, x)
    broken_file = with_weight_scales_times(int8, layer, 0.25)
    assert run_litert(broken_file, x[:4]).shape == (4, 10)  # still a file LiteRT runs
    broken = qgraph.verify(model, broken_file, x)
    assert broken.layers[0].layer == layer, str(broken)
    before = {e.layer: e for e in clean.layers}
    assert broken.layers[0].own_db < 6 < before[layer].own_db - 20  # a quarter of the signal: ~2.5 dB
    assert broken.outputs[0].sqnr_db < clean.outputs[0].sqnr_db


def test_a_wrong_activation_scale_shows_where_the_values_first_go_wrong(case):
    """A tensor's own scale changed: its writer quantizes on a 16x coarser grid, and its reader's
    int32 bias (scaled by the old input scale) no longer matches, so the reader is first."""
    model, _, x, int8, _ = case
    broken = qgraph.verify(model, with_activation_scale_times(int8, "stem_relu6:0", 16.0), x)
    ranked = [e.layer for e in broken.layers]
    assert ranked[0] in ("dw_relu6", "side") and ranked.index("stem_relu6") < ranked.index("concat")
    assert {e.layer: e for e in broken.layers}["stem_relu6"].own_db < 30


def with_activation_scale_times(tflite: bytes, tensor: str, factor: float) -> bytes:
    model = S.ModelT.InitFromPackedBuf(tflite, 0)
    (found,) = [t for t in model.subgraphs[0].tensors if t.name.decode() == tensor]
    found.quantization.scale = [s * factor for s in found.quantization.scale]
    builder = flatbuffers.Builder(len(tflite))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_figures_are_those_of_the_file_and_the_model(case):
    model, _, x, int8, _ = case
    v = qgraph.verify(model, int8, x)
    reference, got = model.predict(x, verbose=0), run_builtin(int8, x)
    assert sqnr_db(got, reference) == pytest.approx(
        sqnr_db(run_litert(int8, x), reference), abs=0.5
    )  # XNNPACK
    (out,) = v.outputs
    assert out.layer == "probs" and v.samples == len(x)
    assert out.sqnr_db == pytest.approx(sqnr_db(got, reference), abs=0.01)
    cosine = float(np.sum(got * reference) / np.sqrt(np.sum(got**2) * np.sum(reference**2)))
    assert out.cosine == pytest.approx(cosine, abs=1e-6)
    assert out.max_abs == pytest.approx(float(np.abs(got - reference).max()), rel=1e-5)
    assert v.top1_agreement[0] == pytest.approx(float(np.mean(got.argmax(1) == reference.argmax(1))))
    matched = {e.layer for e in v.layers}
    assert {"stem_relu6", "dw_relu6", "dw_project", "side", "concat", "pool", "head_relu", "gap"} <= matched
    assert {"stem_bn", "head_bn", "dropout"} <= set(v.unmatched)  # folded or removed
    assert [e.own_db for e in v.layers] == sorted(e.own_db for e in v.layers)
    # for `qgraph view`: keyed by the tensor each op wrote (SOFTMAX's, not the DEQUANTIZE's after it)
    assert out.tensor == "probs:0/dequantized" and "probs:0" in v.node_errors()
    assert "probs:0/dequantized" not in v.node_errors()
    assert all(10 < e.sqnr_db < 80 for e in v.layers if e.layer != "image")


def test_a_float_file_agrees_to_round_off(case):
    model, _, x, _, _ = case
    v = qgraph.verify(model, qgraph.compile(model, quantize="float").tflite, x)
    assert len(v.layers) >= 9 and all(e.sqnr_db > 90 for e in v.layers)


def test_the_converters_file_of_the_same_model(case):
    model, calib, x, int8, _ = case
    ours = {e.layer: e for e in qgraph.verify(model, int8, x).layers}
    theirs = qgraph.verify(model, converter_int8(model, calib), x)
    by_layer = {e.layer: e for e in theirs.layers}
    assert {"stem_relu6", "dw_relu6", "dw_project", "side", "concat", "head_relu", "probs"} <= set(by_layer)
    for name in ("stem_relu6", "dw_relu6", "head_relu"):  # same ranges, same int8 arithmetic
        assert by_layer[name].sqnr_db == pytest.approx(ours[name].sqnr_db, abs=1.0)


def test_suggestions_are_measured_with_keep_float(case):
    model, calib, x, int8, _ = case
    v = qgraph.verify(model, int8, x, suggest=2, representative_data=calib)
    assert len(v.suggestions) == 2 and v.suggestions[0].gain_db >= v.suggestions[1].gain_db
    best = v.suggestions[0]
    kept = qgraph.compile(model, quantize="int8", representative_data=calib, keep_float=[best.layer]).tflite
    assert best.sqnr_db == pytest.approx(sqnr_db(run_builtin(kept, x), model.predict(x, verbose=0)), abs=0.01)
    assert best.gain_db == pytest.approx(best.sqnr_db - best.baseline_db)
    assert "keep_float=[" in str(v) and f"--keep-float {best.layer}" in str(v)


def test_cli_prints_the_ranking_and_json(case, capsys):
    *_, folder = case
    files = [
        str(folder / "digits.keras"),
        str(folder / "digits_int8.tflite"),
        "--data",
        str(folder / "held_out.npy"),
    ]
    assert main(["verify", *files, "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "output probs: SQNR" in text and "top-1 agreement" in text and "... 7 more" in text
    assert main(["verify", *files, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["samples"] == 200 and data["outputs"][0]["layer"] == "probs" and len(data["layers"]) == 10
    assert all(e["own_db"] is None or math.isfinite(e["own_db"]) for e in data["layers"])  # no Infinity


def test_bad_input_is_named(case, zoo, capsys):
    model, _, x, int8, folder = case
    other = zoo.get("concat_nested")
    with pytest.raises(ModelFileError, match="is not a file of this model: its inputs have shapes"):
        qgraph.verify(model, qgraph.compile(other, quantize="float").tflite, x)
    with pytest.raises(OptionError, match="verify data"):
        qgraph.verify(model, int8, np.zeros((4, 9, 9, 1), np.float32))
    with pytest.raises(ModelFileError, match="damaged or not a TFLite model"):
        qgraph.verify(model, int8[:200], x)
    files = [
        str(folder / "digits.keras"),
        str(folder / "digits_int8.tflite"),
        "--data",
        str(folder / "held_out.npy"),
    ]
    assert main(["verify", *files, "--calibration", "c.npy"]) == 2
    assert "--calibration is for the compiles that --suggest makes" in capsys.readouterr().err
