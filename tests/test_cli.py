"""The `qgraph` command: each subcommand on a real model file, errors as exit code 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import qgraph
from qgraph.cli import main
from qgraph.demo import run_tflite
from tests.conftest import rel_err


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, zoo):
    path = tmp_path_factory.mktemp("cli") / "concat_nested.keras"
    zoo.get("concat_nested").save(path)
    return path


def test_compile_writes_a_file_that_runs(model_file, zoo, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert (
        main(
            ["compile", str(model_file), "-o", str(out), "--target", "cpu", "--quantize", "float", "--report"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "fold_batchnorm" in printed and f"wrote {out}" in printed
    model = zoo.get("concat_nested")
    x = zoo.sample(model)
    assert rel_err(run_tflite(out.read_bytes(), x), model.predict(x, verbose=0)) < 1e-4


def test_compile_errors_name_the_option_and_leave_no_file(model_file, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["compile", str(model_file), "-o", str(out), "--target", "tpu"]) == 2
    assert "unknown target 'tpu'" in capsys.readouterr().err
    assert (
        main(["compile", str(model_file), "-o", str(out), "--quantize", "float16", "--calibration", "x.npy"])
        == 2
    )
    assert "--calibration is only used with --quantize int8" in capsys.readouterr().err
    assert (
        main(["compile", str(model_file), "-o", str(out), "--quantize", "int8", "--calibration", "x.npy"])
        == 2
    )
    assert "calibration file 'x.npy' does not exist" in capsys.readouterr().err
    assert main(["compile", str(tmp_path / "missing.keras"), "-o", str(out)]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert not out.exists()


def test_inspect_summary_dump_and_json(model_file, capsys):
    assert main(["inspect", str(model_file)]) == 0
    text = capsys.readouterr().out
    assert "CONCATENATION" in text and "parameters" in text
    assert main(["inspect", str(model_file), "--dump", "--optimize"]) == 0
    dump = capsys.readouterr().out
    assert "BATCH_NORM" not in dump and "CONV_2D" in dump
    assert main(["inspect", str(model_file), "--json"]) == 0
    assert '"ops_by_type"' in capsys.readouterr().out


def test_passes_and_targets_listings(capsys):
    assert main(["passes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    from tests.test_pipeline import BUILTIN_ORDER

    # A numbered line per pass; under it, when it runs and its options.
    assert [ln.split()[2] for ln in lines[1:] if ln.split()[0].isdigit()] == BUILTIN_ORDER
    assert main(["targets"]) == 0
    text = capsys.readouterr().out
    assert text.count("quantize:") == 4 and "option api_level: int = 30" in text
    assert "option accelerator_config: 'ethos-u55-32' |" in text and "option allow_cpu: bool = False" in text


def test_help_is_available_for_every_command():
    for cmd in ([], ["compile"], ["inspect"], ["passes"], ["targets"], ["demo"]):
        done = subprocess.run(
            [sys.executable, "-m", "qgraph.cli", *cmd, "--help"], capture_output=True, text=True
        )
        assert done.returncode == 0 and "usage: qgraph" in done.stdout


@pytest.mark.parametrize("mode", ["int8", "dynamic", "float16"])
def test_compile_quantized_modes_from_a_keras_file(model_file, zoo, tmp_path, capsys, mode):
    model = zoo.get("concat_nested")
    x = zoo.sample(model, 16)
    args = ["compile", str(model_file), "-o", str(tmp_path / "m.tflite"), "--quantize", mode]
    if mode == "int8":
        np.save(tmp_path / "calib.npy", x)
        args += ["--calibration", str(tmp_path / "calib.npy"), "--io-dtype", "float"]
    assert main(args) == 0
    assert f"cpu, {mode}" in capsys.readouterr().out
    from qgraph.quant.numerics import sqnr_db

    assert sqnr_db(model.predict(x, verbose=0), run_tflite((tmp_path / "m.tflite").read_bytes(), x)) > 15.0


def test_calibration_npz_keyed_by_input_name(model_file, zoo, tmp_path, capsys):
    x = zoo.sample(zoo.get("concat_nested"), 8)
    np.savez(tmp_path / "calib.npz", pixels=x)
    out = tmp_path / "m.tflite"
    assert (
        main(
            [
                "compile",
                str(model_file),
                "-o",
                str(out),
                "--quantize",
                "int8",
                "--calibration",
                str(tmp_path / "calib.npz"),
                "--io-dtype",
                "int8",
                "--report",
            ]
        )
        == 0
    )
    assert "input pixels: int8 scale=" in capsys.readouterr().out
    np.savez(tmp_path / "wrong.npz", image=x)
    assert (
        main(
            [
                "compile",
                str(model_file),
                "-o",
                str(out) + "2",
                "--quantize",
                "int8",
                "--calibration",
                str(tmp_path / "wrong.npz"),
            ]
        )
        == 2
    )
    assert "lacks inputs ['pixels']" in capsys.readouterr().err


def _weight_rows(text: str) -> dict[str, list[str]]:
    """`qgraph inspect`'s weight table: tensor name -> the other columns."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if "max/chan" in line) + 1
    return {line.split()[0]: line.split()[1:] for line in lines[start:] if line.startswith("  ")}


def test_inspect_shows_sparsity_and_distinct_values_per_weight_tensor(tmp_path, capsys):
    import json

    from qgraph.compress.stats import weight_stats
    from tests.compress.test_stats import pruned_clustered_model, samples

    model = pruned_clustered_model()  # conv kernel 50% zeros, dense 4 values per output channel
    path = tmp_path / "pruned_clustered.tflite"
    qgraph.compile(model, quantize="int8", representative_data=samples(256, seed=1), output=str(path))
    held_out = samples(8, seed=2)
    assert rel_err(run_tflite(path.read_bytes(), held_out), model.predict(held_out, verbose=0)) < 0.05

    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "weights: 2 tensors, 984 values, 11.0% zero (sparsity of all weights)" in text
    assert "CONV_2D" in text.split("weights:")[0]  # the summary above the table is still there
    rows = _weight_rows(text)
    conv = next(s for s in weight_stats(qgraph.load(path)) if s.op_type == "CONV_2D")
    distinct = [str(conv.distinct), str(conv.distinct_per_channel)]
    assert rows == {
        "conv/kernel": ["CONV_2D", "8x3x3x3", "int8", "50.0%", *distinct],
        "dense/kernel": ["FULLY_CONNECTED", "6x128", "int8", "0.0%", rows["dense/kernel"][4], "4"],
    }
    assert main(["inspect", str(path), "--json"]) == 0
    weights = json.loads(capsys.readouterr().out)["weights"]
    assert [(w["tensor"], w["sparsity"], w["distinct_per_channel"]) for w in weights] == [
        ("conv/kernel", 0.5, conv.distinct_per_channel),
        ("dense/kernel", 0.0, 4),
    ]


def test_inspect_weight_table_of_a_keras_file(model_file, capsys):
    assert main(["inspect", str(model_file)]) == 0
    text = capsys.readouterr().out
    assert "weights: 7 tensors, 11,624 values, 0.0% zero" in text
    rows = _weight_rows(text)
    # By op and shape: the zoo's layer names depend on how many layers the session built before.
    conv = [r for r in rows.values() if r[:2] == ["CONV_2D", "8x3x3x3"]]
    assert [r[:5] for r in conv] == [["CONV_2D", "8x3x3x3", "float32", "0.0%", "216"]]
    depthwise = [r for name, r in rows.items() if name.endswith("/depthwise_kernel")]
    assert depthwise and {r[-1] for r in depthwise} == {"9"}  # depthwise: per channel on axis 3
    assert [r[:2] for r in rows.values() if r[0] == "FULLY_CONNECTED"] == [["FULLY_CONNECTED", "10x1024"]]


def test_inspect_help_says_it_shows_weight_sparsity(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    assert "sparsity" in capsys.readouterr().out


def test_compile_for_ethos_u_with_vela_writes_both_files(model_file, zoo, tmp_path, capsys):
    pytest.importorskip("ethosu.vela", reason="ethos-u-vela is part of the test extra")
    model = zoo.get("concat_nested")
    x = zoo.sample(model, 16)
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "m.tflite"
    args = ["compile", str(model_file), "-o", str(out), "--target", "ethos-u", "--calibration"]
    assert main([*args, str(tmp_path / "calib.npy"), "--vela"]) == 0
    printed = capsys.readouterr().out
    assert "target ethos-u, int8" in printed and "NPU operators (100.0%), 0 CPU operators" in printed
    assert f"wrote {tmp_path / 'm_vela.tflite'}" in printed and (tmp_path / "m_vela.tflite").exists()
    from qgraph.testing import run_litert, sqnr_db

    assert sqnr_db(run_litert(out.read_bytes(), x), model.predict(x, verbose=0)) > 15.0  # int8 I/O
    assert main(["compile", str(model_file), "-o", str(tmp_path / "c.tflite"), "--vela"]) == 2
    assert "--vela is for --target ethos-u (got --target cpu)" in capsys.readouterr().err
