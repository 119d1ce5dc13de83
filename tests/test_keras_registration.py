"""qgraph's Keras layers are registered (so `keras.models.load_model` reads a saved QAT model)
after a plain `import qgraph`, whichever of qgraph and Keras is imported first, although
`import qgraph` itself does not import Keras. Each case runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from qgraph import _keras_registration

CHECK = """
    import sys
    names = ("qgraph>IROp", "qgraph>ActivationQuantizer")
    assert all(keras.saving.get_registered_object(n) is not None for n in names), names
    # registered for good: the import hook has left sys.meta_path
    assert not [f for f in sys.meta_path if type(f).__module__ == "qgraph._keras_registration"]
    print("registered")
"""


@pytest.mark.parametrize(
    "imports",
    [
        # qgraph first: Keras is not imported, then registration follows `import keras`.
        "import qgraph, sys\nassert 'keras' not in sys.modules\nimport keras",
        # Keras first: `import qgraph` registers at once.
        "import keras\nimport qgraph",
        # A qgraph module that imports Keras itself: registration waits until it has finished
        # (registering in the middle of it would be a circular import).
        "import qgraph.compress.training\nimport keras",
        # TensorFlow imports Keras inside its own import.
        "import qgraph\nimport tensorflow\nimport keras",
    ],
    ids=["qgraph-then-keras", "keras-then-qgraph", "qgraph-module-imports-keras", "via-tensorflow"],
)
def test_layers_registered_in_either_import_order(imports):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = imports + "\n" + textwrap.dedent(CHECK)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "registered"


def test_install_is_idempotent():
    # This process has Keras loaded and qgraph's layers registered: nothing to hook.
    before = list(sys.meta_path)
    _keras_registration.install()
    _keras_registration.install()
    assert sys.meta_path == before
