"""Damaged .tflite files (issue 13, item 6): `qgraph.load` names the file and the first
inconsistency in one `ModelFileError`, where it raised struct.error, ValueError,
UnicodeDecodeError, TypeError or IndexError from inside the flatbuffers accessors, or loaded a
wrong graph. The damage is done where a user's disk or download would do it, at the byte
positions of real fields (found with the schema's accessors, tests/reliability/reader_models.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import qgraph
from qgraph.errors import ModelFileError
from tests.reliability import reader_models as rm
from tests.reliability.catalogue import Case, check, cli


def _float() -> bytes:
    return rm.qgraph_file("float")


def _int8() -> bytes:
    return rm.qgraph_file("int8")


def _load_written(tmp_path: Path, data: bytes, name: str = "model.tflite"):
    (tmp_path / name).write_bytes(data)
    return qgraph.load(tmp_path / name)


def _flip_conv_input_index(_: Path):
    data = _float()
    at = rm.operator_input_at(data, rm.operator_of(data, "CONV_2D"), 1) + 1  # second byte: +16384
    return qgraph.load(rm.patch(data, at, bytes([data[at] ^ 0x40])))


def _conv_kernel_shape_5(tmp_path: Path):
    data = _float()
    at = rm.tensor_shape_at(data, rm.weight_tensor(data), 1)
    return _load_written(tmp_path, rm.patch(data, at, (5).to_bytes(4, "little")))


def _every_cut(_: Path) -> dict[str, int]:
    data = _int8()
    outcomes: dict[str, int] = {}
    for cut in range(len(data)):
        try:
            qgraph.load(data[:cut])
            outcome = "loaded"
        except ModelFileError:
            outcome = "ModelFileError"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _valid_files(_: Path) -> list[qgraph.Graph]:
    return [qgraph.load(f) for f in (_float(), _int8(), rm.converter_int8_file())]


def _all_lint(graphs: list[qgraph.Graph], _: Path) -> None:
    for g in graphs:
        g.lint()
        assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= {op.type for op in g.ops()}


def _cli_inspect(tmp_path: Path, data: bytes, name: str):
    (tmp_path / name).write_bytes(data)
    return cli("inspect", str(tmp_path / name))


DAMAGED = r"model\.tflite' is damaged or not a TFLite model: "

CASES = [
    Case(
        "reader-truncated-header",
        6,
        "`qgraph.load('model.tflite')` of a file cut to its first 6 bytes",
        lambda p: _load_written(p, _float()[:6]),
        ModelFileError,
        r"model\.tflite' is not a TFLite flatbuffer \(file identifier TFL3 missing",
        says="ModelFileError: 'model.tflite' is not a TFLite flatbuffer (file identifier TFL3 missing at bytes 4-8; it starts with b'$\\x00\\x00\\x00TF')",
    ),
    Case(
        "reader-truncated-half",
        6,
        "`qgraph.load('model.tflite')` of qgraph's float file cut to half its length",
        lambda p: _load_written(p, _float()[: len(_float()) // 2]),
        ModelFileError,
        DAMAGED + r"model\.operator_codes: vector length at byte \d+ \(4 bytes\) runs past the end of "
        r"the file \(\d+ bytes; truncated\?\)",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: model.operator_codes: vector length at byte 3200 (4 bytes) runs past the end of the file (1648 bytes; truncated?)",
    ),
    Case(
        "reader-truncated-last-byte",
        6,
        "`qgraph.load('model.tflite')` of qgraph's int8 file without its last byte",
        lambda p: _load_written(p, _int8()[:-1]),
        ModelFileError,
        DAMAGED + r"model\.operator_codes\[0\]: table at byte \d+ \(\d+ bytes\) runs past the end",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: model.operator_codes[0]: table at byte 3508 (12 bytes) runs past the end of the file (3519 bytes; truncated?)",
    ),
    Case(
        "reader-every-cut",
        6,
        "`qgraph.load(data[:n])` for every cut length n of qgraph's int8 file",
        _every_cut,
        None,
        says="every length raises ModelFileError naming what runs past the end (none loads)",
        check=lambda outcomes, _: _assert_equal(outcomes, {"ModelFileError": len(_int8())}),
    ),
    Case(
        "reader-flipped-tensor-index",
        6,
        "`qgraph.load(data)`, one bit flipped in the CONV_2D's weight tensor index",
        _flip_conv_input_index,
        ModelFileError,
        r"<bytes> is damaged or not a TFLite model: operator \d+ \(CONV_2D\): input 1 is tensor 16385, the "
        r"subgraph has \d+ \(-1 only for an omitted optional input\)",
        says="ModelFileError: <bytes> is damaged or not a TFLite model: operator 0 (CONV_2D): input 1 is tensor 16385, the subgraph has 13 (-1 only for an omitted optional input)",
    ),
    Case(
        "reader-buffer-size-mismatch",
        6,
        "`qgraph.load('model.tflite')`, the conv kernel's shape (8, 3, 3, 3) changed to (8, 5, 3, 3)",
        _conv_kernel_shape_5,
        ModelFileError,
        DAMAGED + r"tensor \d+ 'conv/kernel\w*': its buffer holds 864 bytes, shape \(8, 5, 3, 3\) float32 "
        "needs 1440",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: tensor 1 'conv/kernel_1': its buffer holds 864 bytes, shape (8, 5, 3, 3) float32 needs 1440",
    ),
    Case(
        "reader-unknown-tensor-type",
        6,
        "`qgraph.load('model.tflite')`, the int8 conv kernel's type code set to 77",
        lambda p: _load_written(
            p, rm.patch(_int8(), rm.tensor_type_at(_int8(), rm.weight_tensor(_int8())), b"M")
        ),
        ModelFileError,
        DAMAGED + r"tensor \d+ 'conv/kernel\w*': type code 77 is not a TFLite tensor type",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: tensor 2 'conv/kernel_1': type code 77 is not a TFLite tensor type",
    ),
    Case(
        "reader-unknown-builtin",
        6,
        "`qgraph.load('model.tflite')`, an operator code's builtin code set to 250",
        lambda p: _load_written(p, rm.patch(_float(), rm.builtin_code_at(_float(), 0), b"\xfa\0\0\0")),
        ModelFileError,
        DAMAGED + r"operator code 0: builtin code 250 is not a TFLite builtin operator \(0\.\.\d+\)",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: operator code 0: builtin code 250 is not a TFLite builtin operator (0..209)",
    ),
    Case(
        "reader-quantization-lengths",
        6,
        "`qgraph.load('model.tflite')`, the int8 conv kernel's 8 per-channel scales cut to 3",
        lambda p: _load_written(
            p, rm.patch(_int8(), rm.scale_count_at(_int8(), rm.weight_tensor(_int8())), b"\3\0\0\0")
        ),
        ModelFileError,
        DAMAGED + r"tensor \d+ 'conv/kernel\w*': 3 quantization scales but 8 zero points",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: tensor 2 'conv/kernel_1': 3 quantization scales but 8 zero points",
    ),
    Case(
        "reader-name-not-utf8",
        6,
        "`qgraph.load('model.tflite')`, the first byte of a tensor name set to 0xff",
        lambda p: _load_written(p, rm.patch(_float(), rm.tensor_name_at(_float(), 1), b"\xff")),
        ModelFileError,
        DAMAGED + r"tensor 1: its name b'\\xff.*' is not UTF-8 text",
        says="ModelFileError: 'model.tflite' is damaged or not a TFLite model: tensor 1: its name b'\\xffonv/kernel_1' is not UTF-8 text",
    ),
    Case(
        "reader-text-file",
        6,
        "`qgraph.load('notes.tflite')`, a text file renamed .tflite",
        lambda p: _load_written(p, b"layer sizes: 8, 16, 10\n", "notes.tflite"),
        ModelFileError,
        r"notes\.tflite' is not a TFLite flatbuffer \(file identifier TFL3 missing at bytes 4-8; it "
        r"starts with b'layer si'\)",
        says="ModelFileError: 'notes.tflite' is not a TFLite flatbuffer (file identifier TFL3 missing at bytes 4-8; it starts with b'layer si')",
    ),
    Case(
        "reader-empty-file",
        6,
        "`qgraph.load('empty.tflite')`, a file of 0 bytes",
        lambda p: _load_written(p, b"", "empty.tflite"),
        ModelFileError,
        r"empty\.tflite' is empty \(0 bytes\), not a TFLite flatbuffer",
        says="ModelFileError: 'empty.tflite' is empty (0 bytes), not a TFLite flatbuffer",
    ),
    Case(
        "reader-cli-inspect-damaged",
        6,
        "`qgraph inspect damaged.tflite`, qgraph's float file cut to 1000 bytes",
        lambda p: _cli_inspect(p, _float()[:1000], "damaged.tflite"),
        SystemExit,
        r"qgraph: error: \S*damaged\.tflite' is damaged or not a TFLite model: .* runs past the end of the file",
        says="exit 2, one line: `qgraph: error: 'damaged.tflite' is damaged or not a TFLite model: "
        "model.operator_codes: vector length at byte ... runs past the end of the file (1000 bytes; truncated?)`",
    ),
    Case(
        "reader-cli-inspect-text",
        6,
        "`qgraph inspect notes.tflite`, a text file renamed .tflite",
        lambda p: _cli_inspect(p, b"not a model\n", "notes.tflite"),
        SystemExit,
        r"qgraph: error: \S*notes\.tflite' is not a TFLite flatbuffer",
        says="exit 2, one line: `qgraph: error: 'notes.tflite' is not a TFLite flatbuffer (file identifier TFL3 missing at bytes 4-8; it starts with b'not a mo')`",
    ),
    Case(
        "reader-valid-files",
        6,
        "`qgraph.load` of qgraph's float and int8 files and TFLiteConverter's int8 file of the same model",
        _valid_files,
        None,
        says="each loads into a graph that passes lint",
        check=_all_lint,
    ),
]


def _assert_equal(got, want) -> None:
    assert got == want


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)
