"""Fuzzing the .tflite reader (issue 13): damaged copies of qgraph's float, int8 and sparse files
and of TFLiteConverter's int8 file either load into a graph that passes lint and prints (what
`qgraph inspect` does), or raise a `QGraphError` subclass; never another exception. A seeded
mutation loop: truncations, bit flips, random 4-byte overwrites, and int32 fields set to large,
negative or off-by-one values, most of them outside the weights' buffers (where any value makes
a valid file). 2,000 files in CI (~2 s); `QGRAPH_FUZZ_N=100000` (~2.5 min) and `QGRAPH_FUZZ_SEED`
for a longer run. A failure names the base file, the mutation and its seed:
`mutate(BASES[name](), random.Random(seed(name, i)))` rebuilds the file.
"""

from __future__ import annotations

import inspect
import os
import random
import re
import traceback

import pytest

import qgraph
from qgraph.compress.stats import weight_stats
from qgraph.emit.schema import S
from qgraph.emit.tflite_sparse import sparse_block
from qgraph.errors import LintError
from qgraph.frontend.tflite_verify import FIELDS
from tests.reliability import reader_models

N = int(os.environ.get("QGRAPH_FUZZ_N", "2000"))
BASE_SEED = int(os.environ.get("QGRAPH_FUZZ_SEED", "13"))
BASES = {
    "qgraph-float": lambda: reader_models.qgraph_file("float"),
    "qgraph-int8": lambda: reader_models.qgraph_file("int8"),
    "converter-int8": reader_models.converter_int8_file,
    "qgraph-sparse-int8": lambda: reader_models.sparse_file("int8"),
    "qgraph-sparse-float": lambda: reader_models.sparse_file("float"),
}
#: int32 values that break an index, a size or an offset.
NASTY = (-1, -2, -(2**31), 2**31 - 1, 2**32 - 1, 2**16, 255, 256, 0, 1, 3, 7, 64)


def seed(name: str, i: int) -> int:
    return BASE_SEED * 1_000_003 + i * 7 + list(BASES).index(name)


def buffer_ranges(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each constant buffer's bytes: damage there leaves a valid file."""
    m = S.Model.GetRootAs(data, 0)
    ranges = []
    for k in range(m.BuffersLength()):
        b = m.Buffers(k)
        o = b._tab.Offset(4)
        if o and b.DataLength():
            start = b._tab.Vector(o)
            ranges.append((start, start + b.DataLength()))
    return ranges


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A damaged copy of `data` and what was done to it."""
    size = len(data)
    weights = buffer_ranges(data)

    def offset(width: int = 1) -> int:
        for _ in range(20):  # mostly outside the weights
            at = rng.randrange(size - width + 1)
            if rng.random() < 0.1 or not any(s <= at < e for s, e in weights):
                return at
        return at

    b = bytearray(data)
    kind = rng.choice(("truncate", "flip", "overwrite", "int32", "int32", "int32"))
    if kind == "truncate":
        cut = rng.randrange(size)
        return data[:cut], f"truncated to {cut} bytes"
    if kind == "flip":
        flips = [(offset(), rng.randrange(8)) for _ in range(rng.choice((1, 1, 2, 3)))]
        for at, bit in flips:
            b[at] ^= 1 << bit
        return bytes(b), f"bits flipped (byte, bit): {flips}"
    if kind == "overwrite":
        at = offset(4)
        b[at : at + 4] = rng.randbytes(4)
        return bytes(b), f"bytes {at}..{at + 3} set to {bytes(b[at : at + 4]).hex()}"
    at = offset(4) & ~3
    old = int.from_bytes(data[at : at + 4], "little", signed=True)
    value = rng.choice((*NASTY, old + 1, old - 1, old + 4, old * 2, size, size - at))
    b[at : at + 4] = (value % 2**32).to_bytes(4, "little")
    return bytes(b), f"int32 at byte {at} set to {value} (was {old})"


def lints_except_undefined_ops(graph: qgraph.Graph) -> None:
    """`graph.lint()`; an op qgraph has no OpDef for is a valid file's (read to be inspected)."""
    try:
        graph.lint()
    except LintError as e:
        problems = str(e).split("\n  ")[1:]
        unexplained = [p for p in problems if not re.match(r"op '.*': unknown type '.*' \(no OpDef", p)]
        assert not unexplained, str(e)


def load_and_inspect(data: bytes) -> str:
    """What `qgraph inspect` does with a file: "loaded" or the QGraphError class it raised."""
    try:
        graph = qgraph.load(data)
    except qgraph.QGraphError as e:
        return type(e).__name__
    lints_except_undefined_ops(graph)
    graph.dump()
    graph.summary()
    weight_stats(graph)
    return "loaded"


@pytest.mark.parametrize("name", list(BASES))
def test_the_unharmed_file_loads_and_lints(name):
    graph = qgraph.load(BASES[name]())
    graph.lint()
    want = {"FULLY_CONNECTED"} if "sparse" in name else {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert want <= {op.type for op in graph.ops()}
    assert ("sparse" in name) == any(sparse_block(t) for t in graph.tensors())


@pytest.mark.parametrize("name", list(BASES))
def test_damaged_files_load_or_raise_a_qgraph_error(name):
    data = BASES[name]()
    count = N // len(BASES) + (list(BASES).index(name) < N % len(BASES))
    outcomes: dict[str, int] = {}
    failures: dict[str, str] = {}  # where it failed -> the first mutation that failed there
    for i in range(count):
        damaged, how = mutate(data, random.Random(seed(name, i)))
        try:
            outcome = load_and_inspect(damaged)
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            site = f"{type(e).__name__} at {where.filename}:{where.lineno}"
            failures.setdefault(site, f"mutation {i} (seed {seed(name, i)}): {how}\n{traceback.format_exc()}")
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if failures:
        pytest.fail(f"{name}: {outcomes}\n" + "\n".join(list(failures.values())[:5]), pytrace=False)
    if count >= 100:
        assert outcomes.get("ModelFileError", 0) > count // 2, outcomes  # most damage is found
        assert outcomes.get("loaded", 0) > 0, outcomes  # and damage in the weights is not


def test_the_verifier_knows_the_schema_field_layout():
    """tflite_verify.FIELDS lists each table's fields as schema_py_generated reads them."""
    widths = {"Bool": 1, "Int8": 1, "Uint8": 1, "Int16": 2, "Uint16": 2, "Int32": 4, "Uint32": 4}
    widths |= {"Float32": 4, "Int64": 8, "Uint64": 8, "Float64": 8}
    for table, spec in FIELDS.items():
        cls = getattr(S, table)
        for i, field in enumerate(spec.split()):
            kind = field.split(":")[1]
            sources = [
                inspect.getsource(f)
                for n, f in vars(cls).items()
                if callable(f) and f"Offset({4 + 2 * i}))" in inspect.getsource(f)
            ]
            if not sources:
                assert field.startswith("deprecated"), f"{table}.{field}: no accessor reads it"
                continue
            body = max(sources, key=len)
            if "self._tab.String" in body:
                assert kind == "str", (table, field)
            elif "self._tab.Vector(o)" in body:
                flags = re.search(r"number_types\.(\w+)Flags, a", body)
                want = f"[{widths[flags.group(1)]}]" if flags else None
                assert kind == want or (not flags and kind.startswith("[")), (table, field, want)
            elif "self._tab.Union" in body:
                assert kind in ("*", "I"), (table, field)
            elif "self._tab.Indirect" in body:
                assert kind == re.search(r"obj = (\w+)\(\)", body).group(1), (table, field)
            else:
                flags = re.search(r"_tab\.Get\(flatbuffers\.number_types\.(\w+)Flags", body)
                assert flags and kind == str(widths[flags.group(1)]), (table, field)
