"""`qgraph passes` and `qgraph targets`: what the registered plugins contribute."""

from __future__ import annotations

import argparse


def add_parsers(sub, loading: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "passes",
        help="list the pass pipeline in run order, with phases, plugins and options",
        description="Passes from every registered plugin, in the order the PassManager runs them; "
        "under each, when it runs (quantize modes, targets) if not always, and the options it "
        "declares as `name: type = default  help` (set them with `qgraph compile --option`).",
    )
    sub.add_parser(
        "targets",
        help="list targets, what each accepts and its options",
        description="Targets from every registered plugin with their quantize modes, op tables and "
        "options (set them with `qgraph compile --option`).",
    )


def run_passes(args) -> int:
    from qgraph.compiler import MODE_NAMES, describe_options
    from qgraph.pipeline import PassManager

    print(f"{'#':>3}  {'phase':9s} {'pass':22s} {'from':22s} rewrite")
    for k, item in enumerate(PassManager.from_plugins().plan, 1):
        p = item.pass_
        print(f"{k:3d}  {p.phase:9s} {p.name:22s} {item.source:22s} {p.doc}")
        when = []
        if p.modes is not None:
            when.append(", ".join(MODE_NAMES.get(m, f"quantize {m}") for m in p.modes))
        if p.targets is not None:
            when.append("target " + ", ".join(p.targets))
        indent = " " * 16
        if when:
            print(f"{indent}runs for: {'; '.join(when)}")
        for line in describe_options(p.options):
            print(f"{indent}option {line}")
    return 0


def run_targets(args) -> int:
    from qgraph.compiler import describe_options
    from qgraph.targets import all_targets

    for t in all_targets().values():
        print(f"{t.name}: {t.description}")
        print(
            f"  quantize: {', '.join(t.quantize_modes)} (default {t.default_quantize}); "
            f"I/O: {', '.join(t.io_dtypes)}; per-axis weights: {'yes' if t.per_axis_weights else 'no'}"
        )
        for line in describe_options(t.options):
            print(f"  option {line}")
        ops = t.op_types()
        print(f"  ops ({len(ops)}): {', '.join(sorted(ops))}")
    return 0
