"""docs/debugging.md runs as written and prints the figures it shows (within round-off of a
different machine: numbers may differ by 0.5 or 2%, words and layer order may not); its
command-line walk-through runs too."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

from qgraph.cli import main
from qgraph.testing import run_litert

DOC = Path(__file__).resolve().parents[2] / "docs" / "debugging.md"
NUMBER = re.compile(r"[-+]?\d[\d,]*\.?\d*")


def block(kind: str, index: int = 0) -> str:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)[index]


def same_up_to_round_off(got: str, shown: str) -> None:
    got_lines, shown_lines = got.strip().splitlines(), shown.strip().splitlines()
    assert len(got_lines) == len(shown_lines), got
    for g, s in zip(got_lines, shown_lines, strict=True):
        assert NUMBER.sub("#", g) == NUMBER.sub("#", s), f"\nran:  {g}\ndoc:  {s}"
        for a, b in zip(NUMBER.findall(g), NUMBER.findall(s), strict=True):
            x, y = float(a.replace(",", "")), float(b.replace(",", ""))
            assert abs(x - y) <= max(0.5, 0.02 * abs(y)), f"\nran:  {g}\ndoc:  {s}"


def test_the_walk_through_prints_what_the_page_shows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(block("python"), str(DOC), "exec"), {"__name__": "debugging_doc"})
    same_up_to_round_off(capsys.readouterr().out, block("text"))
    for line in block("bash").strip().splitlines():
        assert main(shlex.split(line)[1:]) == 0, line
    printed = capsys.readouterr().out
    assert "keep_float=['dw_relu6']" in printed and "wrote digits_int8.html" in printed
    x = np.load(tmp_path / "held_out.npy")
    for name in ("digits_int8.tflite", "digits_int8_kept.tflite"):
        assert run_litert((tmp_path / name).read_bytes(), x[:8]).shape == (8, 10)
    assert "own" in (tmp_path / "digits_int8.html").read_text()
