"""`qgraph.inspect` and `qgraph inspect`: tensors and quantization, sizes, op versions and the
minimum runtime, target checks, on the digits CNN as a Keras file, qgraph's int8 file and
TFLiteConverter's int8 and float files (each run in LiteRT first), and on small hand-built graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import qgraph
from qgraph.cli import main
from qgraph.inspection import inspect
from qgraph.inspection_sizes import converter_layer, sizes
from qgraph.inspection_versions import FROM_COMPILE, FROM_FILE
from qgraph.ir import Graph, Op, QuantParams, Tensor
from qgraph.testing import converter_float, converter_int8, run_litert
from tests.conftest import rel_err

LAYERS = {"stem", "dw", "dw_project", "side", "head_conv", "probs", "gap"}


@pytest.fixture(scope="module")
def files(digits, tmp_path_factory):
    """The digits CNN as .keras, qgraph's int8, the converter's int8 and float .tflite; every
    file checked in LiteRT against the Keras model on held-out samples."""
    model, (x_train, _, x_test, _) = digits
    folder = tmp_path_factory.mktemp("inspection")
    paths = {name: folder / f"{name}.tflite" for name in ("qgraph_int8", "converter_int8", "converter_float")}
    qgraph.compile(model, quantize="int8", representative_data=x_train[:200], output=paths["qgraph_int8"])
    paths["converter_int8"].write_bytes(converter_int8(model, x_train[:200]))
    paths["converter_float"].write_bytes(converter_float(model))
    reference = model.predict(x_test[:64], verbose=0)
    for name, path in paths.items():
        got = run_litert(path.read_bytes(), x_test[:64])
        if name.endswith("float"):
            assert rel_err(got, reference) < 1e-4
        else:
            assert (got.argmax(1) == reference.argmax(1)).mean() > 0.95, name
    paths["keras"] = folder / "digits.keras"
    model.save(paths["keras"])
    return paths


def test_int8_file_tensors_have_per_axis_weights_and_per_tensor_activations(files):
    ins = inspect(files["qgraph_int8"])
    by_name = {t.name: t for t in ins.tensors}
    assert len(by_name) == ins.summary["tensors"] == 26
    kernel = by_name["stem/kernel_1_1"].quant
    assert kernel is not None and (kernel.kind, kernel.axis, kernel.channels) == ("per-axis", 0, 16)
    scales = ins.graph.tensor("stem/kernel_1_1").quant.scale
    assert (kernel.scale_min, kernel.scale_max) == (float(scales.min()), float(scales.max()))
    assert kernel.scale_min < kernel.scale_max and kernel.zero_point == 0
    depthwise = by_name["dw/depthwise_kernel_1"].quant
    assert depthwise is not None and (depthwise.kind, depthwise.axis) == ("per-axis", 3)
    x = by_name["image/quantized"]
    assert x.quant is not None and (x.dtype, x.quant.kind, x.quant.zero_point) == ("int8", "per-tensor", -128)
    assert x.quant.scale_min == pytest.approx(16 / 255)  # the digits' pixels span [0, 16]
    assert by_name["image"].quant is None and by_name["image"].nbytes == 8 * 8 * 4  # float32, batch 1
    activations = [t for t in ins.tensors if not t.constant]
    assert {t.dtype for t in activations if t.quant is None} == {"float32"}  # only the float I/O
    assert all(t.quant.kind == "per-tensor" for t in activations if t.quant is not None)
    assert ins.quantization["activations"] == {"int8 per-tensor": 11, "float32": 2}
    assert ins.quantization["constants"]["int8 per-axis (axis 0)"] == 4  # the 1x1 and 3x3 convs
    assert ins.quantization["constants"]["int8 per-tensor"] == 1  # the dense kernel, per the int8 spec
    converter = inspect(files["converter_int8"]).quantization["constants"]
    assert converter["int8 per-axis (axis 0)"] == 5 and "int8 per-tensor" not in converter  # dense too


def test_sizes_add_up_and_name_the_layers(files):
    mine, theirs = inspect(files["qgraph_int8"]), inspect(files["converter_int8"])
    for ins in (mine, theirs):
        s = ins.sizes
        consts = [t for t in ins.graph.tensors() if t.is_constant]
        assert s.constant_bytes == sum(t.nbytes for t in consts) == sum(s.by_op_type.values())
        assert s.constant_bytes == sum(s.by_layer.values()) and s.constant_tensors == len(consts)
        assert s.activation_bytes == sum(t.nbytes for t in ins.tensors if not t.constant)
        # By hand: CONCATENATION reads two 8x8x16 int8 tensors and writes 8x8x32 (1024 + 1024 + 2048).
        assert (s.peak_activation_bytes, ins.graph.op(s.peak_op).type) == (4096, "CONCATENATION")
    assert mine.sizes.by_op_type == theirs.sizes.by_op_type
    assert mine.sizes.by_op_type["CONV_2D"] == 16 * 9 + 2 * 16 * 16 + 32 * 9 * 32 + 4 * (16 * 3 + 32)
    assert set(mine.sizes.by_layer) == LAYERS
    # The converter's layers come from its fused TF names, which name a conv after its activation.
    assert set(theirs.sizes.by_layer) == LAYERS - {"stem", "dw", "head_conv"} | {
        "stem_relu6",
        "dw_relu6",
        "head_relu",
    }
    assert mine.sizes.by_layer["probs"] == theirs.sizes.by_layer["probs"] == 10 * 32 + 4 * 10
    keras = inspect(files["keras"]).sizes
    assert set(keras.by_layer) == LAYERS | {"rescale", "stem_bn", "dw_bn", "head_bn"}
    assert (
        keras.by_layer["head_conv"] == 4 * (32 * 9 * 32 + 32) and keras.by_op_type["BATCH_NORM"] == 4 * 4 * 64
    )


def _chain_graph() -> Graph:
    """x -> RELU -> a; CONCATENATION(a, x) -> b; CONCATENATION(b, b) -> c; float32, batch -1."""
    g = Graph("chain")
    x, a = (g.add_tensor(Tensor(n, (-1, 100))) for n in ("x", "a"))
    b, c = g.add_tensor(Tensor("b", (-1, 200))), g.add_tensor(Tensor("c", (-1, 400)))
    g.add_op(Op("relu", "RELU"), [x], [a])
    g.add_op(Op("cat1", "CONCATENATION", {"axis": -1}), [a, x], [b])
    g.add_op(Op("cat2", "CONCATENATION", {"axis": -1}), [b, b], [c])
    g.inputs, g.outputs = ["x"], ["c"]
    return g


def test_peak_activation_estimate_by_hand():
    s = sizes(_chain_graph())
    # Live during each op (bytes at batch 1): relu x+a = 800; cat1 x+a+b = 1600 (x read till
    # here); cat2 b+c = 2400 (a and x are dead, c is the output).
    assert (s.peak_activation_bytes, s.peak_op, set(s.peak_tensors)) == (2400, "cat2", {"b", "c"})
    assert (s.activation_bytes, s.activation_tensors, s.constant_bytes) == (400 + 400 + 800 + 1600, 4, 0)
    g = _chain_graph()
    g.outputs = ["c", "a"]  # a graph output stays live to the end
    assert sizes(g).peak_activation_bytes == 2400 + 400


def test_peak_of_an_int8_graph_with_a_constant_counts_activations_only():
    g = Graph("small")
    q = QuantParams(0.1, 0)
    x = g.add_tensor(Tensor("x", (1, 64), "int8", quant=q))
    w = g.const("w", np.ones((32, 64), np.int8))
    bias = g.const("bias", np.zeros(32, np.int32))
    y = g.add_tensor(Tensor("y", (1, 32), "int8", quant=q))
    g.add_op(Op("fc", "FULLY_CONNECTED"), [x, w, bias], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    s = sizes(g)
    assert (s.peak_activation_bytes, s.constant_bytes) == (64 + 32, 32 * 64 + 4 * 32)
    assert s.by_op_type == {"FULLY_CONNECTED": 32 * 64 + 4 * 32} and s.by_layer == {"fc": 2176}


def test_float16_weights_dequantized_at_load_are_not_activations(digits):
    model, (x_train, _, x_test, _) = digits
    f16 = qgraph.compile(model, quantize="float16").tflite
    assert rel_err(run_litert(f16, x_test[:16]), model.predict(x_test[:16], verbose=0)) < 1e-2
    float_file = inspect(qgraph.compile(model, quantize="float").tflite)
    ours, reference = inspect(f16).sizes, float_file.sizes
    assert ours.activation_tensors == reference.activation_tensors
    assert ours.peak_activation_bytes == reference.peak_activation_bytes
    float_weights = sum(
        t.nbytes for t in float_file.graph.tensors() if t.is_constant and t.dtype == "float32"
    )
    assert ours.loaded_copy_bytes == float_weights  # every float32 weight, once (not MEAN's int32 axes)
    assert not any("dequantized" in t for t in ours.peak_tensors)


def test_op_versions_of_both_writers_agree_and_give_the_minimum_runtime(files):
    mine, theirs = inspect(files["qgraph_int8"]).versions, inspect(files["converter_int8"]).versions
    assert mine.source == theirs.source == FROM_FILE
    ours = {o.op: o.version for o in mine.ops}
    other = {o.op: o.version for o in theirs.ops}
    common = set(ours) & set(other)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= common
    assert {op: ours[op] for op in common} == {op: other[op] for op in common}
    assert (ours["CONV_2D"], ours["FULLY_CONNECTED"]) == (3, 4)  # the int8 kernels' versions
    for v in (mine, theirs):
        assert v.file_min_runtime == v.min_runtime == "1.14.0"
        assert v.min_runtime == max(
            (qgraph.op_def(o.op).runtime_for(o.version) for o in v.ops),
            key=lambda r: tuple(map(int, r.split("."))),
        )
    keras = inspect(files["keras"]).versions
    floats = inspect(files["converter_float"]).versions
    assert keras.source == FROM_COMPILE and keras.file_min_runtime == keras.min_runtime == "1.6.0"
    assert {(o.op, o.version) for o in keras.ops} == {(o.op, o.version) for o in floats.ops}


def test_target_check_names_the_ops_and_the_reason(files, capsys):
    ins = inspect(files["converter_float"], target="edgetpu")
    assert ins.target is not None and ins.target.unsupported_ops == ins.target.ops == 10
    assert [p.op for p in ins.target.problems] == [op.name for op in ins.graph.ops()]
    assert all(p.reason.startswith("float32 activations: target 'edgetpu'") for p in ins.target.problems)
    assert main(["inspect", str(files["converter_float"]), "--target", "edgetpu"]) == 0
    text = capsys.readouterr().out
    assert "target edgetpu: 10 of 10 ops of the file cannot run on it:" in text
    assert "  conv_2d_0 (CONV_2D, layer stem_relu6): float32 activations" in text
    mine = inspect(files["qgraph_int8"], target="edgetpu").target
    assert mine is not None and {p.op_type for p in mine.problems} == {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert all("per-axis weights" in p.reason for p in mine.problems)
    assert main(["inspect", str(files["qgraph_int8"]), "--target", "cpu"]) == 0
    assert "target cpu: all 12 ops of the file run on cpu" in capsys.readouterr().out
    assert main(["inspect", str(files["keras"]), "--target", "edgetpu"]) == 0
    text = capsys.readouterr().out
    assert "all 10 ops of qgraph's float compile run on edgetpu" in text
    assert "op versions (as qgraph would write it, float):" in text


def test_a_file_compiled_for_edgetpu_passes_its_check(digits, tmp_path):
    model, (x_train, _, x_test, _) = digits
    path = tmp_path / "edgetpu.tflite"
    qgraph.compile(model, target="edgetpu", representative_data=x_train[:200], output=path)
    got = run_litert(path.read_bytes(), x_test[:64])  # int8 I/O: quantized with the file's parameters
    assert (got.argmax(1) == model.predict(x_test[:64], verbose=0).argmax(1)).mean() > 0.95
    ins = inspect(path, target="edgetpu")
    assert ins.target is not None and (ins.target.problems, ins.target.notes) == ((), ())
    assert "target edgetpu: all 10 ops of the file run on edgetpu" in str(ins)
    assert ins.quantization["constants"]["int8 per-tensor"] == 6  # per-tensor weights on edgetpu
    assert ins.quantization["constants"]["int32 (not quantized)"] == 1  # MEAN's axes


def test_cli_text_json_and_tensors(files, capsys):
    assert main(["inspect", str(files["converter_int8"])]) == 0
    text = capsys.readouterr().out
    assert "minimum runtime: 1.14.0 (the file's metadata), 1.14.0 (qgraph's op registry)" in text
    assert "  digits_cnn_1/concat_1/concat             int8    ?x8x8x32           2,048  per-tensor" in text
    assert "stem_relu6_1/Relu6" in text.split("weights:")[1]  # the weight table is still last
    assert main(["inspect", str(files["qgraph_int8"]), "--tensors"]) == 0
    assert "stem/kernel_1_1" in capsys.readouterr().out.split("sizes:")[0]
    assert main(["inspect", str(files["qgraph_int8"]), "--json", "--target", "edgetpu"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"summary", "quantization", "tensors", "sizes", "versions", "target", "weights"}
    assert d["summary"]["ops_by_type"]["CONV_2D"] == 4 and len(d["tensors"]) == 26
    kernel = next(t for t in d["tensors"] if t["name"] == "stem/kernel_1_1")
    assert kernel["quant"]["axis"] == 0 and kernel["nbytes"] == 144 and kernel["shape"] == [16, 3, 3, 1]
    assert d["sizes"]["peak_activation_bytes"] == 4096 and d["versions"]["file_min_runtime"] == "1.14.0"
    assert d["target"]["target"] == "edgetpu" and len(d["weights"]) == 6
    assert json.loads(json.dumps(inspect(files["keras"]).to_dict()))["versions"]["source"] == FROM_COMPILE


def test_bad_input_is_one_line_naming_it(files, tmp_path, capsys):
    assert main(["inspect", str(files["qgraph_int8"]), "--target", "edgtpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qgraph: error: unknown target 'edgtpu' (did you mean 'edgetpu'?)")
    assert len(err.strip().splitlines()) == 1
    (tmp_path / "cut.tflite").write_bytes(files["qgraph_int8"].read_bytes()[:500])
    assert main(["inspect", str(tmp_path / "cut.tflite")]) == 2
    err = capsys.readouterr().err
    assert "cut.tflite' is damaged" in err and "Traceback" not in err
    with pytest.raises(qgraph.QGraphError, match="unknown target"):
        inspect(files["qgraph_int8"], target="tpu")


def test_bytes_input_reads_versions_without_keras(files):
    data = files["converter_int8"].read_bytes()
    ins = inspect(data)
    assert ins.versions.source == FROM_FILE and ins.versions.file_min_runtime == "1.14.0"
    assert "op versions (read from the file):" in str(ins)


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("digits_cnn_1/stem_relu6_1/Relu6;digits_cnn_1/stem_bn_1/batchnorm/add_1", "stem_relu6"),
        ("sequential_1/conv2d_1_1/BiasAdd", "conv2d_1"),  # Keras 3: a second Conv2D is conv2d_1
        ("model/conv2d/Conv2D;model/conv2d/BiasAdd", "conv2d"),  # tf-keras: no suffix
        ("StatefulPartitionedCall_1:0", "StatefulPartitionedCall_1"),
    ],
)
def test_converter_layer_names(name, layer):
    assert converter_layer(name) == layer
