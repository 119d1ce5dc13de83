"""Arm's Vela compiler, as the `ethos-u` target uses it: its operator table (read from the
installed `ethos-u-vela`'s compiler core, or Vela 5.2.0's table when it is not installed) and
a run of Vela on a written `.tflite` that returns Vela's own verdict and figures.

    result = run_vela(tflite_bytes, "ethos-u55-128")
    result.npu_ops, result.cpu_ops, result.figures["flash_kib"], result.optimized  # Vela's file

Vela runs in a subprocess (`python -m ethosu.vela`): it prints to stdout, may call
`sys.exit`, and keeps module-level state, none of which should reach the caller's process.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any


def _names(text: str) -> list[str]:
    return text.split()


#: The operators Vela 5.2.0's compiler core (regor) places on the NPU, per architecture
#: (`regor.tflite_operator_constraints`), for when `ethos-u-vela` is not installed.
VELA_5_2_U55_OPS = frozenset(
    _names(
        "ABS ADD ARG_MAX AVERAGE_POOL_2D BATCH_MATMUL CONCATENATION CONV_2D DEPTHWISE_CONV_2D ELU "
        "EXP EXPAND_DIMS FULLY_CONNECTED GELU HARD_SWISH LEAKY_RELU LOG LOGISTIC MAXIMUM "
        "MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG PACK PAD PADV2 PRELU QUANTIZE REDUCE_MAX "
        "REDUCE_MIN RELU RELU6 RELU_0_TO_1 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR "
        "RESIZE_NEAREST_NEIGHBOR REVERSE_V2 RSQRT SLICE SOFTMAX SPLIT SPLIT_V SQUARED_DIFFERENCE "
        "SQUEEZE STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV "
        "UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK"
    )
)
VELA_5_2_U85_OPS = VELA_5_2_U55_OPS | frozenset(
    _names(
        "ASSIGN_VARIABLE CAST DIV EQUAL GATHER GREATER GREATER_EQUAL LESS LESS_EQUAL LOGICAL_AND "
        "LOGICAL_NOT LOGICAL_OR NOT_EQUAL READ_VARIABLE REDUCE_ALL REDUCE_ANY SCATTER_ND SELECT "
        "SELECT_V2"
    )
)
VELA_5_2_ACCELERATORS = (
    "ethos-u55-32",
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
    "ethos-u65-512",
    "ethos-u85-128",
    "ethos-u85-256",
    "ethos-u85-512",
    "ethos-u85-1024",
    "ethos-u85-2048",
)
INSTALL_HINT = 'pip install ethos-u-vela (or pip install -e ".[ethos-u]")'


def vela_version() -> str | None:
    """The installed Vela's version, or None when `ethos-u-vela` is not importable."""
    try:
        from ethosu.vela._version import __version__
    except ImportError:
        return None
    return str(__version__)


def npu_operators(accelerator: str) -> tuple[frozenset[str], str]:
    """The TFLite builtin operators Vela places on the NPU of `accelerator` (U55 and U65 share
    one table, U85 has its own), with their constraints, and where the table comes from."""
    arch = "EthosU85" if accelerator.startswith("ethos-u85") else "EthosU55"
    try:
        from ethosu import regor
    except ImportError:
        ops = VELA_5_2_U85_OPS if arch == "EthosU85" else VELA_5_2_U55_OPS
        return ops, "Vela 5.2.0's table (ethos-u-vela is not installed)"
    # Regor spells ARG_MAX as ARGMAX (Vela's own --supported-ops-report undoes it the same way).
    ops = frozenset(name.replace("ARGMAX", "ARG_MAX") for name in regor.tflite_operator_constraints(arch))
    return ops, f"the installed Vela {vela_version()}"


def operator_constraints(accelerator: str, op_type: str) -> list[str]:
    """Vela's constraints on `op_type` for `accelerator` (empty when Vela is not installed)."""
    try:
        from ethosu import regor
    except ImportError:
        return []
    arch = "EthosU85" if accelerator.startswith("ethos-u85") else "EthosU55"
    table = regor.tflite_operator_constraints(arch)
    return list(table.get(op_type, table.get(op_type.replace("ARG_MAX", "ARGMAX"), [])))


def accelerators() -> tuple[str, ...]:
    """The accelerator configurations the installed Vela compiles for."""
    try:
        from ethosu.vela.architecture_features import Accelerator
    except ImportError:
        return VELA_5_2_ACCELERATORS
    return tuple(a.value for a in Accelerator)


@dataclass
class VelaResult:
    npu_ops: int
    cpu_ops: int
    #: Vela's reason for each operator it placed on the CPU: (op type, op name, reason).
    cpu_placements: list[tuple[str, str, str]] = field(default_factory=list)
    #: sram_kib, flash_kib, cycles, inference_ms, macs, npu_weights_bytes, ... (Vela's summary CSV).
    figures: dict[str, Any] = field(default_factory=dict)
    optimized: bytes = b""
    log: str = ""


# Vela's legacy core: "Warning: CONV_2D 'name' is not supported on the NPU. ..." then " - why";
# its regor core: "Warning (supported operators) operator: GATHER, ofm: 'name'" then "Reason: why".
_LEGACY_CPU = re.compile(r"^(?:Warning|Info): (\S+) '(.*)' (is not supported on the NPU|is a CPU only op)")
_REGOR_CPU = re.compile(r"^Warning \(supported operators\) operator: (\S+), ofm: '(.*)'")


def run_vela(data: bytes, accelerator: str, name: str = "model", timeout_s: float = 600.0) -> VelaResult:
    """Compile `data` (a full-int8 `.tflite`) with Vela for `accelerator`; raise RuntimeError
    with Vela's own message when it fails."""
    if vela_version() is None:
        raise RuntimeError(f"Vela is not installed: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="qgraph-vela-") as work:
        source = os.path.join(work, f"{name}.tflite")
        with open(source, "wb") as f:
            f.write(data)
        cmd = [sys.executable, "-m", "ethosu.vela", source, "--accelerator-config", accelerator]
        cmd += ["--output-dir", os.path.join(work, "out")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=work)
        log = proc.stdout + proc.stderr
        optimized = os.path.join(work, "out", f"{name}_vela.tflite")
        if proc.returncode != 0 or not os.path.exists(optimized):
            lines = log.strip().splitlines()
            failed = [i for i, line in enumerate(lines) if "Compilation failed" in line]
            tail = "\n".join(lines[failed[0] : failed[0] + 8] if failed else lines[-8:])
            raise RuntimeError(f"Vela {vela_version()} failed (exit code {proc.returncode}):\n{tail}")
        with open(optimized, "rb") as f:
            result = VelaResult(0, 0, optimized=f.read(), log=log)
        summaries = glob.glob(os.path.join(work, "out", f"{name}_summary_*.csv"))
        if summaries:
            with open(summaries[0], newline="") as f:
                result.figures = _figures(next(csv.DictReader(f)))
    _read_stdout(log, result)
    return result


def _read_stdout(log: str, result: VelaResult) -> None:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"^(CPU|NPU) operators = (\d+)", line):
            setattr(result, "cpu_ops" if m.group(1) == "CPU" else "npu_ops", int(m.group(2)))
        elif m := _LEGACY_CPU.match(line) or _REGOR_CPU.match(line):
            reason = m.group(3) if m.re is _LEGACY_CPU else "see Vela's output"
            follow = lines[i + 1] if i + 1 < len(lines) else ""
            if follow.startswith((" - ", "Reason: ")):
                reason = follow.split(" - ", 1)[-1].removeprefix("Reason: ").strip()
            result.cpu_placements.append((m.group(1), m.group(2), reason))


def _figures(row: dict[str, str]) -> dict[str, Any]:
    def num(key: str) -> float:
        return float(row.get(key) or 0.0)

    return {
        "accelerator": row.get("accelerator_configuration", ""),
        "system_config": row.get("system_config", ""),
        "memory_mode": row.get("memory_mode", ""),
        "sram_kib": num("sram_memory_used"),
        "flash_kib": num("off_chip_flash_memory_used") + num("on_chip_flash_memory_used"),
        "dram_kib": num("dram_memory_used"),
        "cycles": int(num("cycles_total")),
        "npu_cycles": int(num("cycles_npu")),
        "inference_ms": num("inference_time") * 1000.0,
        "macs": int(num("nn_macs")),
        "weights_bytes": int(num("total_original_weights")),
        "npu_weights_bytes": int(num("total_npu_encoded_weights")),
        "clock_mhz": num("core_clock") / 1e6,
    }
