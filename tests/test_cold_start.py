"""Cold start: `import qgraph` and the CLI commands that need no Keras model (`--help`,
`passes`, `targets`, `inspect x.tflite`) import neither Keras nor TensorFlow, whose import
alone costs seconds. Checked in a fresh process, since this one has both loaded. (Timings
are measured by hand, not asserted: they depend on the machine.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

import qgraph

HEAVY = ("keras", "tensorflow", "tf_keras")


def _loaded_after(script: str) -> list[str]:
    """Run `script` in a fresh interpreter; the heavy top-level modules it left imported."""
    probe = f"\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))\n"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script) + probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def tflite_file(tmp_path_factory):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten()])
    path = tmp_path_factory.mktemp("cold") / "small.tflite"
    qgraph.compile(model, output=path)
    return path


def test_import_qgraph_imports_neither_keras_nor_tensorflow():
    assert _loaded_after("import qgraph; dir(qgraph); qgraph.Graph") == []


def test_cli_commands_without_a_keras_model_import_neither(tflite_file):
    script = f"""
        import contextlib, io
        from qgraph.cli import main

        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                main(["--help"])
            except SystemExit:
                pass
            for argv in (["passes"], ["targets"], ["inspect", {str(tflite_file)!r}]):
                assert main(argv) == 0, argv
        assert "cluster_weights" in out.getvalue() and "ethos-u" in out.getvalue()
    """
    assert _loaded_after(script) == []


def test_lazy_public_names_are_the_api_functions():
    from qgraph.api import compile, load, to_keras
    from qgraph.compress.api import cluster, prune
    from qgraph.qat import quantize_model

    for f in (compile, load, to_keras, cluster, prune, quantize_model):
        assert getattr(qgraph, f.__name__) is f
        assert f.__name__ in dir(qgraph) and f.__name__ in qgraph.__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        qgraph.nothing_here  # noqa: B018
