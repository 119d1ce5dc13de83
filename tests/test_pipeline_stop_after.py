"""PassManager.run(stop_after=...): the plan runs up to and including the named pass."""

from __future__ import annotations

import pytest

from qgraph.errors import OptionError
from qgraph.ir import Graph, Op, Tensor
from qgraph.pipeline import FunctionPass, PassContext, PassManager, PlannedPass


def _manager(ran: list[str]) -> PassManager:
    def step(name: str, phase: str, modes=None) -> PlannedPass:
        def fn(graph, ctx) -> bool:
            ran.append(name)
            return False

        return PlannedPass(FunctionPass(fn, phase=phase, name=name, modes=modes), "test")

    return PassManager(
        [
            step("tidy", "import"),
            step("fold", "optimize"),
            step("int8_only", "quantize", modes=("int8",)),
            step("legal", "legalize"),
        ]
    )


def _graph() -> Graph:
    g = Graph()
    x, y = g.add_tensor(Tensor("x", (1, 4))), g.add_tensor(Tensor("y", (1, 4)))
    g.add_op(Op("relu", "RELU"), [x], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_stops_after_the_named_pass_and_records_only_what_ran():
    ran: list[str] = []
    records = _manager(ran).run(_graph(), PassContext(), stop_after="fold")
    assert ran == ["tidy", "fold"]
    assert [r.name for r in records] == ["tidy", "fold"]


def test_without_stop_after_every_enabled_pass_runs():
    ran: list[str] = []
    _manager(ran).run(_graph(), PassContext())
    assert ran == ["tidy", "fold", "legal"]  # int8_only is not enabled for quantize="float"


def test_a_pass_disabled_for_this_mode_is_still_a_stop_point():
    ran: list[str] = []
    _manager(ran).run(_graph(), PassContext(), stop_after="int8_only")
    assert ran == ["tidy", "fold"]
    ran.clear()
    _manager(ran).run(_graph(), PassContext(quantize="int8"), stop_after="int8_only")
    assert ran == ["tidy", "fold", "int8_only"]


def test_phases_and_stop_after_combine():
    ran: list[str] = []
    _manager(ran).run(_graph(), PassContext(), phases=("optimize", "legalize"), stop_after="legal")
    assert ran == ["fold", "legal"]


def test_unknown_name_is_refused_before_any_pass_runs():
    ran: list[str] = []
    with pytest.raises(OptionError, match=r"'fould' names no pass; .*tidy, fold, int8_only, legal"):
        _manager(ran).run(_graph(), PassContext(), stop_after="fould")
    assert ran == []
