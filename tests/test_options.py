"""Options that passes and targets declare: `compile` validates against them, passes read
their defaults, the CLI sets them with `--option` and lists them; every file runs in LiteRT."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import qgraph
from qgraph.cli import main
from qgraph.demo import accuracy_in_litert, run_tflite
from qgraph.options import LazyChoices
from qgraph.pipeline import FunctionPass, PassContext, PassManager, PlannedPass
from qgraph.quant.numerics import sqnr_db
from tests.conftest import rel_err

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def small():
    """Conv (432 weights: below dynamic_range's 1024) -> Flatten -> Dense (5760 weights), with
    held-out samples whose outputs are far from zero and not constant."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(16, 3, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
    rng = np.random.default_rng(0)
    calib = rng.uniform(-1, 1, (48, 8, 8, 3)).astype(np.float32)
    test = rng.uniform(-1, 1, (12, 8, 8, 3)).astype(np.float32)
    reference = model.predict(test, verbose=0)
    assert np.abs(reference).max() > 0.1 and reference.std() > 0.05
    return model, calib, test, reference


def dequantized_outputs(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs in float for any I/O type (int8/uint8 I/O uses the file's own parameters)."""
    return accuracy_in_litert(tflite, x, np.zeros(len(x), int))[1]


def messages(result, pass_name: str) -> list[str]:
    return [m for r in result.report.passes if r.name == pass_name for m in r.messages]


def test_unknown_option_is_named_with_what_is_accepted(small):
    model = small[0]
    with pytest.raises(
        qgraph.OptionError,
        match=r"unknown option 'min_elemnts' for target 'cpu', quantize='dynamic' "
        r"\(did you mean 'min_elements'\?\); options accepted here: min_elements, sparse; "
        r"and compile's own: target, quantize, output \(",
    ):
        qgraph.compile(model, quantize="dynamic", min_elemnts=256)
    with pytest.raises(qgraph.OptionError, match=r"unknown options 'foo', 'bar'.*accepted here: sparse; and"):
        qgraph.compile(model, quantize="float", foo=1, bar=None)
    with pytest.raises(
        qgraph.OptionError,
        match=r"unknown option 'api_level' .* \(api_level is an option of target 'nnapi'\)",
    ):
        qgraph.compile(model, target="cpu", api_level=28)


def test_min_elements_is_accepted_and_changes_the_weights(small):
    model, _, test, reference = small

    def weight_dtypes(result):
        return {
            op.type: result.graph.inputs_of(op)[1].dtype for op in result.graph.ops() if op.type != "RESHAPE"
        }

    default = qgraph.compile(model, quantize="dynamic")
    lowered = qgraph.compile(model, quantize="dynamic", min_elements=256)
    assert weight_dtypes(default) == {"CONV_2D": "float32", "FULLY_CONNECTED": "int8"}
    assert weight_dtypes(lowered) == {"CONV_2D": "int8", "FULLY_CONNECTED": "int8"}
    assert len(lowered.tflite) < len(default.tflite)
    assert messages(lowered, "dynamic_range") == [
        "int8 weights for 2 ops; 0 with fewer than 256 weights kept float"
    ]
    for result in (default, lowered):
        assert sqnr_db(reference, run_tflite(result.tflite, test)) > 25.0


def test_a_value_of_the_wrong_type_is_refused_naming_the_option(small):
    model, calib = small[0], small[1]
    with pytest.raises(
        qgraph.OptionError,
        match=r"option min_elements='256' is a str; min_elements takes an int \(declared by pass 'dynamic_range'\)",
    ):
        qgraph.compile(model, quantize="dynamic", min_elements="256")
    with pytest.raises(qgraph.OptionError, match=r"option per_channel_dense=1 is an int; .*takes a bool"):
        qgraph.compile(model, quantize="int8", representative_data=calib, per_channel_dense=1)
    with pytest.raises(
        qgraph.OptionError, match=r"api_level=28.0 is a float; api_level takes an int .*'nnapi'"
    ):
        qgraph.compile(model, target="nnapi", api_level=28.0)
    with pytest.raises(
        qgraph.OptionError, match=r"io_dtype='int16' is not supported; choose one of float, int8, uint8"
    ):
        qgraph.compile(model, quantize="int8", representative_data=calib, io_dtype="int16")


def test_an_option_of_a_pass_that_does_not_run_says_when_it_runs(small):
    model = small[0]
    with pytest.raises(
        qgraph.OptionError,
        match=r"percentile is only used with quantize='int8' \(got target 'cpu', quantize='float16'\): "
        r"it is an option of pass 'calibrate', which runs only for quantize='int8'",
    ):
        qgraph.compile(model, quantize="float16", percentile=99.9)
    with pytest.raises(qgraph.OptionError, match=r"min_elements is only used with quantize='dynamic'"):
        qgraph.compile(model, quantize="float", min_elements=10)
    with pytest.raises(qgraph.OptionError, match=r"weight_bits .*pass 'insert_fake_quant'.*quantize_model"):
        qgraph.compile(model, quantize="float", weight_bits=4)
    # None stands for the default: accepted whatever runs.
    result = qgraph.compile(model, quantize="float", io_dtype=None)
    assert rel_err(run_tflite(result.tflite, small[2]), small[3]) < 1e-5


def test_an_option_of_a_pass_whose_enabled_refuses_says_it_does_not_run(small):
    class OnlyWithQat(qgraph.Pass):
        name, phase = "only_with_qat", "optimize"
        options = (qgraph.Option("qat_note", str, ""),)

        def enabled(self, ctx):
            return bool(ctx.options.get("qat"))

        def run(self, graph, ctx):
            return False

    class Plugin:
        @qgraph.hookimpl
        def qgraph_passes(self):
            return [OnlyWithQat()]

    qgraph.register_plugin(Plugin(), name="only_with_qat")
    try:
        with pytest.raises(
            qgraph.OptionError,
            match=r"qat_note is an option of pass 'only_with_qat', which does not run for "
            r"target 'cpu', quantize='float'; options accepted here: sparse; "
            r"and compile's own: target, quantize, output$",
        ):
            qgraph.compile(small[0], quantize="float", qat_note="x")
    finally:
        qgraph.unregister_plugin("only_with_qat")


class Tally(qgraph.Pass):
    """(graph)  =>  the same graph; logs how many ops have the type `tally_op_type`"""

    name = "tally"
    phase = "legalize"
    targets = ("edgetpu",)
    options = (qgraph.Option("tally_op_type", str, "CONV_2D", "the op type to count"),)

    def run(self, graph, ctx):
        kind = ctx.option("tally_op_type")
        ctx.log(f"{sum(op.type == kind for op in graph.ops())} {kind}")
        return False


class TallyPlugin:
    @qgraph.hookimpl
    def qgraph_passes(self):
        return [Tally()]


@pytest.fixture
def tally_plugin():
    qgraph.register_plugin(TallyPlugin(), name="tally_plugin")
    yield
    qgraph.unregister_plugin("tally_plugin")


def test_a_plugin_pass_for_one_target_runs_only_there_with_its_option(small, tally_plugin):
    model, calib, test, reference = small
    tpu = qgraph.compile(model, target="edgetpu", representative_data=calib, tally_op_type="FULLY_CONNECTED")
    assert messages(tpu, "tally") == ["1 FULLY_CONNECTED"]
    default = qgraph.compile(model, target="edgetpu", representative_data=calib)
    assert messages(default, "tally") == ["1 CONV_2D"]
    cpu = qgraph.compile(model, target="cpu", quantize="int8", representative_data=calib)
    assert "tally" not in [r.name for r in cpu.report.passes]
    with pytest.raises(
        qgraph.OptionError,
        match=r"tally_op_type is only used with target 'edgetpu' \(got target 'cpu', quantize='int8'\): "
        r"it is an option of pass 'tally'",
    ):
        qgraph.compile(model, target="cpu", quantize="int8", representative_data=calib, tally_op_type="ADD")
    for result in (tpu, default):
        assert accuracy_in_litert(result.tflite, test, np.zeros(len(test), int))[2] == "int8"
    for result in (tpu, default, cpu):
        assert sqnr_db(reference, dequantized_outputs(result.tflite, test)) > 20.0


def test_pass_targets_and_options_on_function_passes_and_by_hand():
    seen = []
    fp = FunctionPass(
        lambda g, ctx: seen.append(ctx.option("level")) or False,
        name="levelled",
        targets=("nnapi",),
        options=(qgraph.Option("level", int, 3, "a level"),),
    )
    from qgraph.targets import get_target

    pm = PassManager([PlannedPass(fp, "test")])
    pm.run(qgraph.Graph(), PassContext(get_target("cpu")))
    pm.run(qgraph.Graph(), PassContext(get_target("nnapi")))
    pm.run(qgraph.Graph(), PassContext(get_target("nnapi"), options={"level": 5}))
    assert seen == [3, 5]
    assert pm.declared_options()["level"][0][1] is fp
    # A built-in pass run by hand: its declared default, and a target's configured value.
    assert PassContext().option("min_elements") == 1024
    assert PassContext(get_target("nnapi").configured({"api_level": 28})).option("api_level") == 28
    with pytest.raises(qgraph.OptionError, match="no pass or target declares option 'nope'"):
        PassContext().option("nope")


def test_target_declares_typed_options_and_keeps_configured_values():
    from qgraph.targets import get_target

    nnapi = get_target("nnapi")
    assert [o.signature() for o in nnapi.options] == ["api_level: int = 30", "allow_cpu: bool = False"]
    assert nnapi.option_values == {"api_level": 30, "allow_cpu": False} and nnapi.per_axis_weights
    old = nnapi.configured({"api_level": 28, "io_dtype": "int8"})
    assert old.option_values == {"api_level": 28, "allow_cpu": False} and not old.per_axis_weights
    assert get_target("cpu").options == () and get_target("cpu").option_values == {}


def test_option_declaration_checks_and_parses():
    opt = qgraph.Option("rate", float, 0.5, "a rate")
    opt.check(1)  # an int is a float
    opt.check(np.float32(0.25))
    with pytest.raises(qgraph.OptionError, match="option rate=True is a bool; rate takes a float"):
        opt.check(True)
    assert opt.parse("0.25") == 0.25
    with pytest.raises(qgraph.OptionError, match="--option rate='fast': rate takes a float"):
        opt.parse("fast")
    flag = qgraph.Option("flag", bool, False)
    assert flag.parse("true") is True and flag.parse("No") is False
    with pytest.raises(qgraph.OptionError, match="cannot be written on the command line"):
        qgraph.Option("data", object).parse("x")


@pytest.fixture(scope="module")
def model_file(small, tmp_path_factory):
    path = tmp_path_factory.mktemp("options") / "small.keras"
    small[0].save(path)
    return path


def test_cli_option_sets_pass_and_target_options(small, model_file, tmp_path, capsys):
    _, _, test, reference = small
    out = tmp_path / "dyn.tflite"
    args = ["compile", str(model_file), "-o", str(out), "--quantize", "dynamic", "--report"]
    assert main([*args, "--option", "min_elements=256"]) == 0
    assert "0 with fewer than 256 weights kept float" in capsys.readouterr().out
    assert sqnr_db(reference, run_tflite(out.read_bytes(), test)) > 25.0

    nnapi = tmp_path / "nnapi.tflite"
    assert (
        main(["compile", str(model_file), "-o", str(nnapi), "--target", "nnapi", "--option", "api_level=28"])
        == 0
    )
    assert "target nnapi" in capsys.readouterr().out
    assert rel_err(run_tflite(nnapi.read_bytes(), test), reference) < 1e-5


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("min_elements=many", "--option min_elements='many': min_elements takes an int"),
        ("min_elements", "--option takes NAME=VALUE"),
        ("nonsense=1", "unknown option 'nonsense' for target 'cpu', quantize='dynamic'"),
        ("percentile=99.9", "percentile is only used with quantize='int8'"),
    ],
)
def test_cli_option_errors_name_the_option_and_leave_no_file(model_file, tmp_path, capsys, option, error):
    out = tmp_path / "m.tflite"
    assert (
        main(["compile", str(model_file), "-o", str(out), "--quantize", "dynamic", "--option", option]) == 2
    )
    assert error in capsys.readouterr().err
    assert not out.exists()


def test_cli_help_explains_option():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "qgraph.cli", "compile", "--help"], capture_output=True, text=True
    )
    assert "--option NAME=VALUE" in done.stdout and "declared type" in done.stdout


def test_passes_listing_shows_options_and_targets(capsys, tally_plugin):
    assert main(["passes"]) == 0
    text = capsys.readouterr().out
    dynamic = text[text.index(" dynamic_range ") :]
    assert "runs for: quantize dynamic" in dynamic
    assert "option min_elements: int = 1024  weight tensors with fewer elements stay float" in dynamic
    assert "option calibration_method: 'minmax' | 'percentile' = 'minmax'" in text
    tally = text[text.index(" tally ") :]
    assert "runs for: target edgetpu" in tally.splitlines()[1]
    assert "option tally_op_type: str = 'CONV_2D'  the op type to count" in tally


def _section_blocks(page: str, heading: str) -> list[str]:
    text = (DOCS / page).read_text().split(heading, 1)[1]
    text = re.split(r"\n## ", text, maxsplit=1)[0]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize(
    ("page", "heading", "plugin", "printed"),
    [
        ("passes.md", "## Options", "count_ops_plugin", "['1 FULLY_CONNECTED ops']"),
        ("targets.md", "## Target options", "mcu_plugin", "no_fpu takes a bool (declared by target 'mcu')"),
    ],
)
def test_docs_options_examples_run(capsys, page, heading, plugin, printed):
    namespace: dict = {"__name__": "options_doc"}
    try:
        for block in _section_blocks(page, heading):
            exec(compile(block, f"docs/{page}", "exec"), namespace)
    finally:
        from qgraph.plugin_manager import plugin_manager

        if plugin_manager().get_plugin(plugin) is not None:
            qgraph.unregister_plugin(plugin)
    assert printed in capsys.readouterr().out
    model, samples, result = namespace["model"], namespace["samples"], namespace["result"]
    reference = model.predict(samples, verbose=0)
    assert reference.std() > 0.05
    assert sqnr_db(reference, dequantized_outputs(result.tflite, samples)) > 20.0


def test_lazy_choices_are_computed_once_on_first_use():
    calls = []
    choices = LazyChoices(lambda: calls.append(1) or ["a", "b"])
    option = qgraph.Option("pick", str, "a", "one of a few", choices=choices)
    assert calls == []  # declaring the option does not compute them
    assert option.signature() == "pick: 'a' | 'b' = 'a'"
    option.check("b")
    with pytest.raises(qgraph.OptionError, match="choose one of a, b"):
        option.check("c")
    assert list(choices) == ["a", "b"] and len(choices) == 2 and choices[1] == "b"
    assert calls == [1]
