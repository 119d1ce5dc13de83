"""Target `ethos-u`: Arm Ethos-U55 / U65 / U85 NPUs, through Arm's Vela compiler.

Full int8 with per-channel weights and int8 I/O; static batch 1. The operator table is the
installed Vela's (`ethos-u-vela`), or Vela 5.2.0's when it is not installed. When Vela is
installed, the written file goes through Vela itself: its verdict (which operators run on the
NPU, and why any do not) and its figures (SRAM, Flash, cycles, estimated inference time) go
into the report; with `vela=True` its optimized file is written next to the output
(`m.tflite` -> `m_vela.tflite`).

    qgraph.compile(model, target="ethos-u", representative_data=x, output="m.tflite", vela=True)
"""

from __future__ import annotations

from typing import Any

import qgraph
from qgraph.ops import builtin_op_defs
from qgraph.options import LazyChoices
from qgraph.plugins.vela import INSTALL_HINT, accelerators, npu_operators, run_vela, vela_version
from qgraph.targets import allow_cpu_option

DEFAULT_ACCELERATOR = "ethos-u55-128"


def _writable_npu_ops(accelerator: str) -> tuple[frozenset[str], str]:
    """Vela's NPU operators that qgraph writes (ops it never writes cannot be in a model), and
    where Vela's table comes from."""
    ops, source = npu_operators(accelerator)
    return ops & frozenset(builtin_op_defs()), source


NPU_OPS, TABLE_SOURCE = _writable_npu_ops(DEFAULT_ACCELERATOR)


def _for_accelerator(target: qgraph.Target, options: dict[str, Any]) -> qgraph.Target:
    """U55 and U65 share one operator table, U85 runs more (GATHER, DIV, comparisons...)."""
    import dataclasses

    ops, _ = _writable_npu_ops(options.get("accelerator_config") or DEFAULT_ACCELERATOR)
    return dataclasses.replace(target, ops=ops)


def _vela_decides(target: qgraph.Target) -> bool:
    """Vela's own verdict replaces the table's when Vela will run: its compiler core maps more
    than the table says (an int8 GELU becomes a lookup table on the NPU)."""
    return target.option_values.get("vela") is not False and vela_version() is not None


def _run_vela(data: bytes, target: qgraph.Target, report: Any) -> dict[str, bytes]:
    """After serializing: Vela's verdict and figures into `report` (unless vela=False); with
    vela=True also its optimized file, as `_vela.tflite`."""
    wanted = target.option_values.get("vela")
    if wanted is False:
        return {}
    if vela_version() is None:
        if wanted:
            raise qgraph.TargetError(
                f"vela=True needs Arm's Vela compiler, which is not installed: {INSTALL_HINT}"
            )
        report.placement.append(f"Vela is not installed, so only qgraph's table was checked ({INSTALL_HINT})")
        return {}
    accelerator = target.option_values["accelerator_config"]
    flagged = {p.op for p in report.incompatibilities}
    try:
        result = run_vela(data, accelerator)
    except RuntimeError as e:
        raise qgraph.TargetError(f"target 'ethos-u': {e}") from None
    total = result.npu_ops + result.cpu_ops
    report.figures["vela"] = {
        "version": vela_version(),
        "npu_ops": result.npu_ops,
        "cpu_ops": result.cpu_ops,
        **result.figures,
    }
    f = result.figures
    # Vela's verdict replaces the table's placement lines.
    report.placement = [
        f"Vela {vela_version()}, {accelerator}: {result.npu_ops} NPU operators "
        f"({100.0 * result.npu_ops / max(total, 1):.1f}%), {result.cpu_ops} CPU operators "
        "(Vela's count, after its own rewrites)",
        f"SRAM {f.get('sram_kib', 0):.2f} KiB, Flash {f.get('flash_kib', 0):.2f} KiB, "
        f"{f.get('cycles', 0):,} cycles, estimated inference {f.get('inference_ms', 0):.3f} ms "
        f"at {f.get('clock_mhz', 0):.0f} MHz ({f.get('system_config', '')}, {f.get('memory_mode', '')})",
    ] + [f"on the CPU (Vela): {kind} '{name}': {why}" for kind, name, why in result.cpu_placements]
    if flagged and not result.cpu_ops:
        report.placement.append(
            f"qgraph's table flagged {', '.join(sorted(flagged))}; Vela runs them on the NPU"
        )
    if result.cpu_ops and not target.option_values.get("allow_cpu"):
        kind, name, why = (result.cpu_placements or [("?", "?", "see Vela's output")])[0]
        raise qgraph.TargetError(
            f"target 'ethos-u': Vela places {result.cpu_ops} operator(s) on the CPU; first: {kind} "
            f"'{name}': {why}. Pass allow_cpu=True (--option allow_cpu=true) to accept a CPU tail"
        )
    return {"_vela.tflite": result.optimized} if wanted else {}


ETHOS_U = qgraph.Target(
    name="ethos-u",
    description=f"Arm Ethos-U NPUs via Vela: full int8, per-channel weights, ops from {TABLE_SOURCE}",
    quantize_modes=("int8",),
    default_quantize="int8",
    ops=NPU_OPS,
    io_dtypes=("int8", "uint8"),
    per_axis_weights=True,
    static_batch=True,
    options=(
        qgraph.Option(
            "accelerator_config",
            str,
            DEFAULT_ACCELERATOR,
            "the NPU and its MACs per cycle, as Vela names it",
            choices=LazyChoices(accelerators),  # Vela's list costs ~0.2 s to read
        ),
        qgraph.Option(
            "vela",
            bool,
            None,
            "Vela's verdict (which ops run on the NPU) and figures (SRAM, Flash, cycles) go into the "
            "report whenever Vela is installed; True also writes its optimized file next to the "
            "output as NAME_vela.tflite (and needs Vela); False skips Vela",
        ),
        allow_cpu_option("Ethos-U NPU"),
    ),
    configure=_for_accelerator,
    finish=_run_vela,
    defer_check=_vela_decides,
)


@qgraph.hookimpl
def qgraph_targets():
    return [ETHOS_U]
