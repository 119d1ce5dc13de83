"""static_batch: tensor (-1, H, W, C) => (1, H, W, C) on targets that run one sample at a time
(ethos-u, edgetpu); other dimensions and other targets are left alone."""

from __future__ import annotations

import pytest

from qgraph.ir import Graph
from qgraph.passes.static_batch import StaticBatch
from qgraph.pipeline import PassContext
from qgraph.targets import get_target
from tests.passes.helpers import act, assert_same_numerics, conv2d, messages, rng, run_pass


def _graph() -> Graph:
    g, r = Graph("batch"), rng()
    x = act(g, "x", (-1, 6, 6, 3))
    _, y = conv2d(g, r, "conv", x, (-1, 6, 6, 4), 4)
    g.inputs, g.outputs = ["x"], [y.name]
    return g


@pytest.mark.parametrize("target", ["ethos-u", "edgetpu"])
def test_batch_dimension_becomes_one_on_devices_that_run_one_sample(target):
    g = _graph()
    before = g.copy()
    ctx = PassContext(get_target(target), "int8", {})
    assert StaticBatch().enabled(ctx)
    changed, ctx = run_pass(StaticBatch(), g, ctx)
    assert changed
    assert g.tensor("x").shape == (1, 6, 6, 3) and g.tensor(g.outputs[0]).shape == (1, 6, 6, 4)
    constants = [(t.name, t.shape) for t in g.tensors() if t.is_constant]
    assert constants == [(t.name, t.shape) for t in before.tensors() if t.is_constant]  # untouched
    assert messages(ctx) == [
        f"batch dimension fixed to 1 in 2 tensors (target {target!r} runs one sample at a time)"
    ]
    assert_same_numerics(before, g)


def test_other_targets_keep_the_dynamic_batch():
    for name in ("cpu", "nnapi"):
        assert not StaticBatch().enabled(PassContext(get_target(name), "int8", {}))
