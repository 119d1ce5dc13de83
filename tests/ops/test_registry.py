"""The op registry: one OpDef per op type, read by every part of qgraph; targets list only
what qgraph can write and execute; plugins add and override ops through `qgraph_ops`."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.emit.tflite import serialize
from qgraph.frontend.tflite import from_tflite
from qgraph.ir import Graph, Op, Tensor
from qgraph.ops import REQUIRED, OpDef, op_def, op_defs
from qgraph.targets import all_targets


def test_every_target_op_has_an_encoder_and_a_kernel():
    """A target's table promises that qgraph can write the op and execute it (calibration, QAT)."""
    defs = op_defs()
    missing = {
        f"{name}: {op_type}"
        for name, target in all_targets().items()
        for op_type in target.op_types()
        if op_type not in defs or defs[op_type].encode is None or defs[op_type].kernel is None
    }
    assert not missing, f"target ops without an OpDef that can encode and execute them: {sorted(missing)}"


def test_every_builtin_op_is_complete():
    for op_type, d in op_defs().items():
        assert d.type == op_type
        assert d.kernel is not None, f"{op_type} has no Keras kernel"
        if d.tflite_builtin is None:
            assert d.encode is None, f"{op_type}: a pre-legalization op cannot be encoded"
            continue
        assert d.encode is not None, f"{op_type} has a builtin but no encoder"
        assert d.runtime_for(1)
        if d.weight_port is not None:
            assert d.output_channel_axis is not None and d.bias_port is not None


def _runtime_imports(path) -> list[str]:
    """The modules a file imports when it runs (not those under `if TYPE_CHECKING:`)."""
    import ast

    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for n in ast.walk(block)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_the_ir_imports_no_output_format():
    """The IR and the registry's record type know no file format (the writer and reader do)."""
    from pathlib import Path

    root = Path(qgraph.__file__).parent
    files = [*sorted((root / "ir").glob("*.py")), root / "ops" / "opdef.py", root / "ops" / "registry.py"]
    for path in files:
        bad = [n for n in _runtime_imports(path) if n.startswith("qgraph.emit") or "schema" in n]
        assert not bad, f"{path.name} imports {bad}"


def test_unknown_op_type_is_named_with_the_known_ones():
    with pytest.raises(qgraph.UnsupportedOpError, match="'NOPE' is not defined: known op types are ADD"):
        op_def("NOPE")
    with pytest.raises(qgraph.UnsupportedOpError, match="op 'bn' of type 'BATCH_NORM' has no encode"):
        op_def("BATCH_NORM", needs="encode", op_name="bn")


def test_lint_reads_required_attrs_and_shape_rules_from_the_registry():
    g = Graph("g")
    x = g.add_tensor(Tensor("x", (1, 4, 4, 2)))
    y = g.add_tensor(Tensor("y", (1, 4, 4, 3)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_op(Op("concat", "CONCATENATION", {}), [x], [y])
    with pytest.raises(qgraph.LintError, match=r"required attribute\(s\) \['axis'\] missing"):
        g.lint()
    g2 = Graph("g2")
    a, b = g2.add_tensor(Tensor("a", (1, 4))), g2.add_tensor(Tensor("b", (1, 5)))
    g2.inputs, g2.outputs = ["a"], ["b"]
    g2.add_op(Op("relu", "RELU"), [a], [b])
    with pytest.raises(qgraph.LintError, match="output shape"):
        g2.lint()


class _Plugin:
    def __init__(self, defs):
        self.defs = defs

    @qgraph.hookimpl
    def qgraph_ops(self):
        return self.defs


def test_a_plugin_overrides_a_builtin_definition_and_unregistering_restores_it():
    builtin = op_def("RELU")
    changed = OpDef("RELU", "relu, drawn by a plugin", shape="same", kernel=builtin.kernel)
    name = qgraph.register_plugin(_Plugin([changed]), name="relu-override")
    try:
        assert op_def("RELU") is changed
    finally:
        qgraph.unregister_plugin(name)
    assert op_def("RELU") is builtin


def test_a_plugin_must_return_op_defs():
    name = qgraph.register_plugin(_Plugin(["RELU"]), name="bad-ops")
    try:
        with pytest.raises(TypeError, match="must return OpDef records"):
            op_defs()
    finally:
        qgraph.unregister_plugin(name)


def test_required_marker_and_defaults():
    d = op_def("CONV_2D")
    assert d.attrs["padding"] is REQUIRED and d.attrs["fused"] == "NONE"
    assert d.missing_attrs({"padding": "SAME"}) == ["stride", "dilation"]


def test_reader_maps_builtins_back_through_the_writer_s_opdef():
    g = Graph("g")
    x = g.add_tensor(Tensor("x", (1, 4)))
    y = g.add_tensor(Tensor("y", (1, 4)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_op(Op("act", "LEAKY_RELU", {"alpha": 0.25}), [x], [y])
    data = serialize(g)
    back = from_tflite(data)
    (op,) = back.ops()
    assert (op.type, op.attrs["alpha"]) == ("LEAKY_RELU", 0.25)
    assert serialize(back) == data
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    value = np.array([[-2.0, -1.0, 0.5, 3.0]], np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], value)
    interp.invoke()
    np.testing.assert_allclose(
        interp.get_tensor(interp.get_output_details()[0]["index"]), [[-0.5, -0.25, 0.5, 3.0]]
    )


def test_passes_treat_an_undefined_op_type_as_having_no_role():
    """A foreign .tflite may hold ops qgraph does not define: passes skip them, lint names them."""
    from qgraph.ops import op_facts

    blank = op_facts("SEGMENT_SUM")
    assert blank.weight_port is None and not blank.same_scale and blank.fixed_output is None
    assert "SEGMENT_SUM" not in op_defs()


def test_a_builtin_written_by_a_plugin_op_still_reads_back_as_the_builtin_op():
    data_graph = Graph("g")
    x, y = data_graph.add_tensor(Tensor("x", (1, 4))), data_graph.add_tensor(Tensor("y", (1, 4)))
    data_graph.inputs, data_graph.outputs = ["x"], ["y"]
    data_graph.add_op(Op("relu", "RELU"), [x], [y])
    data = serialize(data_graph)
    clamp = OpDef("MY_CLAMP", shape="same", tflite_builtin="RELU", encode=op_def("RELU").encode)
    name = qgraph.register_plugin(_Plugin([clamp]), name="clamp")
    try:
        assert [op.type for op in from_tflite(data).ops()] == ["RELU"]
    finally:
        qgraph.unregister_plugin(name)


def test_a_hook_that_reads_the_registry_while_it_is_built_gets_a_clear_error():
    class Reentrant:
        @qgraph.hookimpl
        def qgraph_ops(self):
            return [op_def("RELU")]

    name = qgraph.register_plugin(Reentrant(), name="reentrant")
    try:
        with pytest.raises(RuntimeError, match="builtin_op_defs"):
            op_defs()
    finally:
        qgraph.unregister_plugin(name)
    from qgraph.ops import builtin_op_defs

    assert builtin_op_defs()["RELU"].encode is op_def("RELU").encode


def test_an_opdef_with_weights_must_say_where_their_channels_are():
    with pytest.raises(ValueError, match="weight_port needs output_channel_axis"):
        OpDef("MY_CONV", weight_port=1)


def test_a_target_with_undeclared_options_is_refused_by_name():
    with pytest.raises(qgraph.TargetError, match="target 'mcu': options must be qgraph.Option"):
        qgraph.Target("mcu", "", ("float",), "float", frozenset(), options={"no_fpu": False})
