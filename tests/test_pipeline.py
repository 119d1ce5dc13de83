"""PassManager: ordering by phase and after/before, errors that name passes, reports, plugins."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.pipeline import FunctionPass, PassContext, PassManager, PlannedPass

BUILTIN_ORDER = [
    "remove_identity",
    "merge_duplicate_ops",
    "fold_pad",
    "fold_batchnorm",
    "fold_constant_scale",
    "fuse_activation",
    "prune_weights",
    "cluster_weights",
    "preserve_constraints",
    "calibrate",
    "keep_float",
    "quantize_activations",
    "unify_concat_scales",
    "propagate_same_scale",
    "quantize_weights",
    "insert_fake_quant",
    "insert_float_boundaries",
    "fold_input_cast",
    "insert_io_quantize",
    "materialize_int8",
    "dynamic_range",
    "check_compression",
    "float16_weights",
    "sparse_weights",
    "static_batch",
]


def planned(*passes):
    return [PlannedPass(p, "test") for p in passes]


def noop(name, phase="optimize", after=(), before=()):
    return FunctionPass(lambda g, ctx: False, phase=phase, name=name, after=after, before=before)


def test_order_follows_phases_then_constraints_then_registration():
    pm = PassManager(
        planned(
            noop("late", "legalize"),
            noop("b"),
            noop("a", after=("c",)),
            noop("c"),
            noop("first", "import"),
            noop("z", before=("b",)),
        )
    )
    assert [i.pass_.name for i in pm.plan] == ["first", "c", "a", "z", "b", "late"]


def test_cycle_is_an_error_naming_the_passes():
    with pytest.raises(qgraph.PassOrderError, match="cycle: .*(x -> y|y -> x)"):
        PassManager(planned(noop("x", after=("y",)), noop("y", after=("x",))))


def test_unknown_and_backwards_constraints_are_errors():
    with pytest.raises(qgraph.PassOrderError, match="'a'.*unknown pass 'nope'"):
        PassManager(planned(noop("a", after=("nope",))), strict=True)
    assert [i.pass_.name for i in PassManager(planned(noop("a", after=("nope",)))).plan] == ["a"]
    with pytest.raises(qgraph.PassOrderError, match="'q' \\(phase legalize\\) cannot run before 'o'"):
        PassManager(planned(noop("o", "optimize", after=("q",)), noop("q", "legalize")))
    with pytest.raises(qgraph.PassOrderError, match="two passes are named 'd'"):
        PassManager(planned(noop("d"), noop("d")))


def test_failing_pass_is_named_with_the_passes_before_it():
    def boom(graph, ctx):
        raise RuntimeError("kaput")

    pm = PassManager(planned(noop("ok"), FunctionPass(boom, name="boom")))
    with pytest.raises(
        qgraph.PassError, match="pass 'boom'.*RuntimeError: kaput; passes before it: \\['ok'\\]"
    ):
        pm.run(qgraph.Graph(), PassContext())


def test_pass_that_breaks_the_graph_is_caught_by_lint():
    def break_it(graph, ctx):
        graph.add_tensor(qgraph.Tensor("dangling", (1,)))
        return True

    pm = PassManager(planned(FunctionPass(break_it, name="break_it")), lint=True)
    with pytest.raises(qgraph.PassError, match="(?s)'break_it'.*invalid graph.*'dangling' has no producer"):
        pm.run(qgraph.Graph(), PassContext())


def test_builtin_pipeline_comes_from_the_plugins():
    plan = PassManager.from_plugins().plan
    assert [i.pass_.name for i in plan] == BUILTIN_ORDER
    assert {i.source for i in plan} == {"qgraph.passes"}


def test_custom_pass_from_a_plugin_runs_in_compile_and_is_reported():
    import keras

    seen = []

    class CountOps(qgraph.Pass):
        name, phase, after, before = "count_ops", "optimize", ("fold_batchnorm",), ("fuse_activation",)

        def run(self, graph, ctx):
            seen.append(len(graph.ops()))
            ctx.log(f"{len(graph.ops())} ops")
            return False

    class Plugin:
        @qgraph.hookimpl
        def qgraph_passes(self):
            return [CountOps()]

    inp = keras.Input((4,))
    model = keras.Model(
        inp, keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(3)(inp)))
    )
    qgraph.register_plugin(Plugin(), name="counter")
    try:
        result = qgraph.compile(model)
    finally:
        qgraph.unregister_plugin("counter")
    names = [r.name for r in result.report.passes]
    assert names.index("fold_batchnorm") < names.index("count_ops") == names.index("fuse_activation") - 1
    record = result.report.passes[names.index("count_ops")]
    assert record.source == "counter" and record.messages == ["2 ops"] and seen == [2]
    assert "count_ops" in str(result.report)
    x = np.ones((1, 4), np.float32)
    from qgraph.demo import run_tflite

    np.testing.assert_allclose(
        run_tflite(result.tflite, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_targets_are_listed_and_checked():
    from qgraph.targets import all_targets, get_target

    assert list(all_targets()) == ["cpu", "edgetpu", "ethos-u", "nnapi"]
    g = qgraph.Graph()
    a, b = g.add_tensor(qgraph.Tensor("a", (1, 4))), g.add_tensor(qgraph.Tensor("b", (1, 4)))
    out = g.add_tensor(qgraph.Tensor("out", (1, 8)))
    g.add_op(qgraph.Op("cat", "CONCATENATION", {"axis": 1, "fused": "RELU"}), [a, b], [out])
    g.inputs, g.outputs = ["a", "b"], ["out"]
    problems = get_target("edgetpu").check(g)
    assert [str(p) for p in problems] == [
        "cat (CONCATENATION): fused activation RELU is not mapped by the EdgeTPU compiler"
    ]
    assert get_target("cpu").check(g) == []


def test_nnapi_reports_ops_above_the_delegate_versions():
    from qgraph.targets import get_target

    nnapi = get_target("nnapi")
    assert nnapi.version_fallbacks({"MUL": 3, "CONV_2D": 3}) == [
        "MUL v3 is above the nnapi delegate's maximum v2: those ops fall back to the CPU"
    ]
    assert nnapi.version_fallbacks({"ADD": 2, "MEAN": 2}) == []
