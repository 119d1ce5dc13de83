"""Docs stay true: hooks.md matches hookspecs.py, the pages' examples run (write-a-pass, quantization,
qat, collab), layers.md lists the table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import qgraph.hookspecs as hookspecs
from qgraph.frontend.lowering import LOWERINGS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_hooks_doc_lists_every_hook_with_its_signature():
    text = (DOCS / "hooks.md").read_text()
    documented = dict(re.findall(r"^### `(qgraph_\w+)(\(.*\).*)`$", text, flags=re.M))
    specs = {n: f for n, f in vars(hookspecs).items() if n.startswith("qgraph_")}
    assert set(documented) == set(specs)
    for name, fn in specs.items():
        sig = str(inspect.signature(fn)).replace("'", "")
        assert documented[name] == sig, (
            f"docs/hooks.md has {name}{documented[name]}, hookspecs.py has {name}{sig}"
        )


def test_write_a_pass_page_runs(capsys):
    namespace: dict = {"__name__": "write_a_pass_doc"}
    for block in python_blocks(DOCS / "write-a-pass.md"):
        exec(compile(block, "docs/write-a-pass.md", "exec"), namespace)
    assert "drop_double_relu" in capsys.readouterr().out


def test_layers_doc_holds_the_table_generated_from_the_registry():
    from qgraph.frontend.layer_table import table

    text = (DOCS / "layers.md").read_text()
    assert table() in text, "docs/layers.md is stale: run `python -m qgraph.frontend.layer_table --write`"
    assert len(LOWERINGS) > 60


def test_quantization_page_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "quantization_doc"}
    exec(compile(python_blocks(DOCS / "quantization.md")[0], "docs/quantization.md", "exec"), namespace)
    assert (tmp_path / "digits_int8.tflite").exists()
    accuracy = float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    assert accuracy > 0.8


def test_qat_page_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(python_blocks(DOCS / "qat.md")[0], "docs/qat.md", "exec"), {"__name__": "qat_doc"})
    assert (tmp_path / "digits_qat.keras").exists() and (tmp_path / "digits_qat_int8.tflite").exists()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    agreement = float(line.rsplit(" ", 1)[-1].rstrip("%")) / 100
    assert agreement >= 0.99, line


def test_collab_page_flow_runs_and_its_int8_file_keeps_zeros_and_clusters(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(python_blocks(DOCS / "collab.md")[0], "docs/collab.md", "exec"), {"__name__": "collab_doc"})
    assert (tmp_path / "digits_pcqat_int8.tflite").exists()
    lines = capsys.readouterr().out.strip().splitlines()
    checked = [line for line in lines if "distinct per channel" in line]
    assert len(checked) == 5 and all("50.0% zeros" in line and "(8 clusters)" in line for line in checked)
    accuracy = float(lines[-1].split()[4].rstrip("%,")) / 100
    assert accuracy > 0.9, lines[-1]


def test_hooks_page_custom_op_compiles_and_runs(tmp_path, monkeypatch, capsys):
    """The page's new-op plugin goes through the path a user takes: qgraph.compile, then LiteRT."""
    import qgraph

    monkeypatch.chdir(tmp_path)
    text = (DOCS / "hooks.md").read_text()
    block = python_blocks_after(text, "## A new op, end to end")[0]
    try:
        exec(compile(block, "docs/hooks.md", "exec"), {"__name__": "hooks_doc"})
    finally:
        qgraph.unregister_plugin("abs-plugin")
    assert (tmp_path / "magnitude.tflite").exists()
    assert "'ABS': 1" in capsys.readouterr().out
    assert "ABS" not in qgraph.op_defs()


def python_blocks_after(text: str, heading: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text.split(heading, 1)[1], flags=re.S)


def test_targets_page_ethos_u_example_runs_through_vela(capsys):
    pytest.importorskip("ethosu.vela", reason="ethos-u-vela is part of the test extra")
    block = python_blocks_after((DOCS / "targets.md").read_text(), "## Ethos-U")[0]
    exec(compile(block, "docs/targets.md", "exec"), {"__name__": "targets_doc"})
    out = capsys.readouterr().out
    assert "NPU operators (100.0%), 0 CPU operators" in out and "Flash" in out


def test_targets_page_sparse_weights_example_runs(capsys):
    block = python_blocks_after((DOCS / "targets.md").read_text(), "## Sparse weights")[0]
    exec(compile(block, "docs/targets.md", "exec"), {"__name__": "sparse_doc"})
    out = capsys.readouterr().out
    assert "fc/kernel (fc) int8[128, 256]: written sparse in 1x16 blocks" in out
