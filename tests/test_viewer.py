"""`qgraph view`: the page in a real headless Chromium (SVG text, the details panel's script, a
non-blank screenshot), constants inside op nodes, quantization text, `--after`, the error
overlay, and the errors for an unknown pass, a missing `dot` and misused flags."""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import qgraph
from qgraph.errors import OptionError
from qgraph.ir import Op, Tensor
from qgraph.testing import run_litert
from qgraph.viewer import view
from qgraph.viewer.dot_graph import GraphvizNotFoundError, build
from qgraph.viewer.labels import COLOURS, match_error
from tests.conftest import randomize_batchnorm

ERRORS = {
    "stem": {"sqnr_db": 7.5, "cosine": 0.91, "max_abs": 0.4},  # by op (layer) name: red
    "stem_relu:0": {"sqnr_db": 14.0},  # by output tensor name: orange
    "head": {"sqnr_db": float("inf"), "cosine": 1.0},  # an exact match: green
    "no_such_layer": {"sqnr_db": 30.0},
}


@pytest.fixture(scope="module")
def model():
    import keras

    L = keras.layers
    inp = keras.Input((8, 8, 3), name="pixels")
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    m = keras.Model(inp, L.Dense(4, name="head")(x), name="tiny")
    return randomize_batchnorm(m)


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(0).normal(size=(16, 8, 8, 3)).astype(np.float32)


def chromium(*args: str, tmp_path) -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Chromium is needed to test the page in a real browser: apt-get install chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]  # fmt: skip
    done = subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_pixels(data: bytes) -> np.ndarray:
    """An 8-bit RGB(A) PNG's pixels (h, w, channels), decoded with zlib and numpy."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, kind = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and kind in (2, 6), (depth, kind)
    bpp, idat, pos = 3 if kind == 2 else 4, b"", 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        idat += data[pos + 8 : pos + 8 + n] if data[pos + 4 : pos + 8] == b"IDAT" else b""
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
    out, prev = np.zeros((h, w * bpp), np.int64), np.zeros(w * bpp, np.int64)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if f in (0, 1, 2):  # none, sub (a running sum per channel), up
            row = [line, np.cumsum(line.reshape(w, bpp), axis=0).ravel(), line + prev][f] % 256
        else:  # average, Paeth: each byte depends on the one before, byte by byte
            row = line.copy()
            for i in range(w * bpp):
                a, b, c = (row[i - bpp], prev[i], prev[i - bpp]) if i >= bpp else (0, prev[i], 0)
                if f == 3:
                    row[i] = (row[i] + (a + b) // 2) % 256
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
        out[y], prev = row, row
    return out.reshape(h, w, bpp)


def node_fills(page: str) -> dict[str, str]:
    """SVG node id -> the fill of its box, from the page `dot` drew."""
    return dict(re.findall(r'<g id="(\w+)" class="node">.*?fill="(#\w+)"', page, flags=re.S))


def svg_texts(page: str) -> list[str]:
    """The text lines of the SVG in `page`, unescaped (`dot` writes `-` as `&#45;`)."""
    svg = page[page.index("<svg") : page.index("</svg>")]
    found = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in found]


def test_page_renders_in_chromium(model, tmp_path):
    out = tmp_path / "graph.html"
    view(model, out, errors=ERRORS)
    dom = chromium("--dump-dom", f"file://{out}#stem", tmp_path=tmp_path)
    texts = svg_texts(dom)
    for word in ("CONV_2D", "BATCH_NORM", "RELU", "MEAN", "FULLY_CONNECTED", "stem", "stem_bn", "head"):
        assert word in texts, (word, texts)
    panel = dom[dom.index('<aside id="details">') :]
    assert "stem/kernel" in panel and "16x3x3x3 float32" in panel and "sqnr_db" in panel  # the script ran
    shot = tmp_path / "graph.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", f"file://{out}#stem", tmp_path=tmp_path)
    pixels = png_pixels(shot.read_bytes())
    assert pixels.shape[:2] == (1600, 1200)
    background = np.all(pixels[..., :3] == pixels[0, 0, :3], axis=-1)
    assert background.mean() < 0.99  # not blank
    red = np.array([int(COLOURS["red"][0][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels[..., :3] - red).max(axis=-1) <= 2).sum() > 500  # the red op is drawn


def test_constants_are_lines_of_their_op_not_nodes(model):
    graph = qgraph.load(model)
    g, details, _ = build(graph)
    assert set(g.nodes) == {"in0", "op0", "op1", "op2", "op3", "op4", "out0"}
    assert g.number_of_edges() == 6  # the activations only
    stem = g.nodes["op0"]["label"]
    assert "kernel 16x3x3x3 float32" in stem and "bias 16 float32" in stem
    assert "moving_variance 16 float32" in g.nodes["op1"]["label"]
    assert [t["role"] for t in details["op0"]["inputs"]] == ["in 0", "kernel", "bias"]


def test_int8_tflite_shows_its_quantization(model, samples, tmp_path):
    tflite = qgraph.compile(model, quantize="int8", representative_data=samples).tflite
    y = run_litert(tflite, samples)
    assert y.shape == (16, 4) and np.isfinite(y).all() and y.std() > 0
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tflite)
    page = view(path, None)
    texts = svg_texts(page)
    assert "kernel 16x3x3x3 int8 per-axis(0)" in texts and "bias 16 int32 per-axis(0)" in texts
    assert any(re.fullmatch(r"\?x8x8x16 int8 s=[0-9.e-]+ zp=-128", t) for t in texts)  # RELU output
    assert re.search(r"per-axis\(0\): 16 scales [0-9.e-]+\.\.[0-9.e-]+, zp=0", page)  # the panel's data
    with pytest.raises(OptionError, match="a .tflite is shown as it was read"):
        view(path, None, after="fold_batchnorm")


def test_after_a_pass_shows_the_graph_it_leaves(model, samples):
    plain = view(model, None)
    folded = view(model, None, after="fold_batchnorm")
    assert "BATCH_NORM" in svg_texts(plain) and "BATCH_NORM" not in svg_texts(folded)
    assert "after pass fold_batchnorm (target cpu, quantize float)" in folded
    quantized = view(model, None, after="quantize_weights", quantize="int8", representative_data=samples)
    assert "kernel 16x3x3x3 float32 (int8 per-axis(0))" in svg_texts(quantized)  # params set, not applied


def test_error_overlay_colours_ops_by_sqnr(model):
    page = view(model, None, errors=ERRORS)
    fills = node_fills(page)
    assert fills["op0"] == COLOURS["red"][0] and fills["op2"] == COLOURS["orange"][0]
    assert fills["op4"] == COLOURS["green"][0] and fills["op1"] == COLOURS["none"][0]
    figures = {"SQNR 7.5 dB, cos 0.9100, max 0.4", "SQNR 14.0 dB", "SQNR inf dB, cos 1.0000"}
    assert figures <= set(svg_texts(page))
    assert "error entries that name no op: no_such_layer" in page
    with pytest.raises(OptionError, match=r"errors\['stem'\]\['sqnr_db'\] must be a number"):
        view(model, None, errors={"stem": {"sqnr_db": "high"}})
    with pytest.raises(OptionError, match=r"errors\['stem'\]\['own_db'\] must be a number"):
        view(model, None, errors={"stem": {"own_db": "bad"}})


def test_own_error_from_verify_decides_the_colour(model):
    """`qgraph verify`'s entries carry own_db (the error the layer adds itself; null: none):
    it, not the SQNR accumulated up to the layer, colours the op."""
    page = view(
        model,
        None,
        errors={"stem": {"sqnr_db": 8.0, "own_db": 35.0}, "head": {"sqnr_db": 30.0, "own_db": None}},
    )
    fills = node_fills(page)
    assert fills["op0"] == COLOURS["green"][0]
    assert "SQNR 8.0 dB, own 35.0 dB" in set(svg_texts(page))
    assert "own SQNR, the error the op adds itself" in page
    assert "own SQNR" not in view(model, None, errors={"stem": {"sqnr_db": 8.0}})


def test_error_entries_match_output_tensor_op_name_or_layer():
    op, outs = Op("block/conv", "CONV_2D"), [Tensor("block/conv:0", (1, 4))]
    assert match_error(op, outs, {"block/conv:0": {}, "block": {}}) == "block/conv:0"
    assert match_error(op, outs, {"block/conv": {}, "block": {}}) == "block/conv"
    assert match_error(op, outs, {"block": {}}) == "block"
    assert match_error(Op("conv_2d_1", "CONV_2D"), [Tensor("stem_relu:0", (1,))], {"stem_relu": {}})
    assert match_error(op, outs, {"other": {}}) is None
    dequantize = Op("dequantize_5", "DEQUANTIZE")  # writes "head:0/dequantized": not layer "head"
    assert match_error(dequantize, [Tensor("head:0/dequantized", (1,))], {"head": {}}) is None


def test_unknown_or_idle_pass_is_an_error_naming_the_passes(model):
    with pytest.raises(OptionError, match=r"'fold_batchnrom' names no pass \(did you mean 'fold_batchnorm'\?\)"
                       r".*remove_identity, merge_duplicate_ops"):  # fmt: skip
        view(model, None, after="fold_batchnrom")
    with pytest.raises(OptionError, match=r"'calibrate' does not run for target 'cpu', quantize='float'"):
        view(model, None, after="calibrate")


def test_missing_dot_names_the_program_and_how_to_install_it(model, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no `dot` on it
    with pytest.raises(GraphvizNotFoundError, match=r"Graphviz's `dot`.*apt-get install graphviz.*brew"):
        view(model, tmp_path / "graph.html")
    assert not (tmp_path / "graph.html").exists()


def test_missing_pydot_says_how_to_install_it(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)  # `import pydot` raises ImportError
    with pytest.raises(GraphvizNotFoundError, match=r"needs the pydot package.*pip install pydot"):
        view(model, tmp_path / "graph.html")
    assert not (tmp_path / "graph.html").exists()


def test_command_line(model, samples, tmp_path, capsys):
    from qgraph.cli import _loading_flags
    from qgraph.commands import view as command

    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers(dest="command"), _loading_flags())
    keras_file, errors, data = tmp_path / "tiny.keras", tmp_path / "errors.json", tmp_path / "x.npy"
    model.save(keras_file)
    errors.write_text(json.dumps({"stem": {"sqnr_db": 5.0}}))
    np.save(data, samples)
    out = tmp_path / "graph.html"
    args = ["view", str(keras_file), "-o", str(out), "--after", "calibrate", "--quantize", "int8"]
    assert command.run(parser.parse_args([*args, "--calibration", str(data), "--errors", str(errors)])) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert node_fills(page)["op0"] == COLOURS["red"][0] and "after pass calibrate" in page
    with pytest.raises(OptionError, match="--quantize chooses the passes run before --after PASS"):
        command.run(parser.parse_args(["view", str(keras_file), "--quantize", "int8", "-o", str(out)]))
    with pytest.raises(OptionError, match="names no pass"):
        command.run(parser.parse_args(["view", str(keras_file), "--after", "nope", "-o", str(out)]))
    errors.write_text("{not json")
    with pytest.raises(OptionError, match="is not JSON"):
        command.run(parser.parse_args(["view", str(keras_file), "--errors", str(errors), "-o", str(out)]))


def test_names_are_escaped_and_a_tensor_read_twice_is_two_edges():
    from qgraph.ir import Graph

    g = Graph("hostile")
    x = g.add_tensor(Tensor('in"<x>', (1, 4)))
    y = g.add_tensor(Tensor("y", (1, 4)))
    g.add_op(Op('</script><b id="evil">', "ADD"), [x, x], [y])
    g.inputs, g.outputs = [x.name], ["y"]
    page = view(g, None)
    assert "<b id=" not in page and page.count("</script>") == 2  # the page's own two scripts
    assert '</script><b id="evil">' in svg_texts(page)  # shown as text
    nxg, _, _ = build(g)
    assert nxg.number_of_edges("in0", "op0") == 2


def test_docs_page_example_runs(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).resolve().parents[1] / "docs" / "view.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(block, "docs/view.md", "exec"), {"__name__": "view_doc"})
    assert all(
        (tmp_path / f).exists() for f in ("float.html", "folded.html", "int8.html", "model_int8.tflite")
    )
    assert "BATCH_NORM" in svg_texts((tmp_path / "float.html").read_text())
    assert "BATCH_NORM" not in svg_texts((tmp_path / "folded.html").read_text())
    sqnr = float(capsys.readouterr().out.split("SQNR ")[-1].split()[0])
    assert sqnr > 20  # the int8 file is close to the model: the overlay shows a real figure
