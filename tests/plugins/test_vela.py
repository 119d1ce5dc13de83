"""plugins/vela.py: Vela's operator table and the reading of its output (both compiler cores'
message formats), without running Vela; test_ethos_u.py runs it."""

from __future__ import annotations

from qgraph.plugins import vela
from qgraph.plugins.vela import VelaResult, _read_stdout

REGOR_LOG = """Warning: No system configuration specified. Using a default of Ethos_U55_High_End_Embedded.

Warning (supported operators) operator: GATHER, ofm: 'embed:0'
Reason: Unsupported opType

CPU operators = 1 (50.0%)
NPU operators = 1 (50.0%)
"""
LEGACY_LOG = """Warning: CONV_2D 'big' is not supported on the NPU. Placing on CPU instead
 - Stride values for both width and height must be in the range [1, 3]
Info: GATHER 'embed' is a CPU only op
CPU operators = 2 (40.0%)
NPU operators = 3 (60.0%)
"""


def test_regor_and_legacy_cpu_placements_are_read_with_their_reasons():
    r = VelaResult(0, 0)
    _read_stdout(REGOR_LOG, r)
    assert (r.npu_ops, r.cpu_ops) == (1, 1)
    assert r.cpu_placements == [("GATHER", "embed:0", "Unsupported opType")]

    r = VelaResult(0, 0)
    _read_stdout(LEGACY_LOG, r)
    assert (r.npu_ops, r.cpu_ops) == (3, 2)
    assert r.cpu_placements == [
        ("CONV_2D", "big", "Stride values for both width and height must be in the range [1, 3]"),
        ("GATHER", "embed", "is a CPU only op"),
    ]


def test_summary_csv_row_becomes_named_figures():
    row = {
        "accelerator_configuration": "Ethos_U55_128",
        "sram_memory_used": "4.5",
        "off_chip_flash_memory_used": "13.25",
        "on_chip_flash_memory_used": "0.0",
        "cycles_total": "18273.0",
        "inference_time": "3.6546e-05",
        "core_clock": "500000000.0",
    }
    f = vela._figures(row)
    assert f["accelerator"] == "Ethos_U55_128" and f["sram_kib"] == 4.5 and f["flash_kib"] == 13.25
    assert f["cycles"] == 18273 and abs(f["inference_ms"] - 0.036546) < 1e-9 and f["clock_mhz"] == 500.0


def test_operator_tables_per_architecture():
    u55, source = vela.npu_operators("ethos-u55-128")
    u85, _ = vela.npu_operators("ethos-u85-256")
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= u55
    assert "GATHER" not in u55 and "GATHER" in u85
    if vela.vela_version() is not None:
        # The installed Vela's table matches the written fallback for the version pinned in pyproject.
        assert source.startswith("the installed Vela")
        assert u55 == vela.VELA_5_2_U55_OPS and u85 == vela.VELA_5_2_U85_OPS
        assert vela.operator_constraints("ethos-u55-128", "CONV_2D")
