"""qgraph: Keras models -> networkx IR -> ordered passes -> TFLite for cpu, edgetpu and nnapi.

import qgraph
g = qgraph.load(model)                       # Keras model or .keras/.h5 path -> Graph
print(g.dump())
result = qgraph.compile(model, target="cpu", output="model.tflite")
qat = qgraph.quantize_model(qgraph.prune(model))  # trainable: pruning, clustering, QAT
"""

import importlib
from typing import TYPE_CHECKING, Any

from qgraph import _keras_registration
from qgraph.errors import (
    LintError,
    ModelFileError,
    OptionError,
    PassError,
    PassOrderError,
    QGraphError,
    TargetError,
    UnsupportedLayerError,
    UnsupportedOpError,
)
from qgraph.hookspecs import hookimpl
from qgraph.ir import Graph, Op, QuantParams, Tensor, lint
from qgraph.ops import REQUIRED, OpDef, op_def, op_defs
from qgraph.options import Option
from qgraph.pipeline import FunctionPass, Pass, PassContext, PassManager
from qgraph.plugin_manager import register_plugin, unregister_plugin
from qgraph.rewrite import RewritePass
from qgraph.targets import Target

__version__ = "0.1.0"

# The verbs below need Keras (and so TensorFlow, ~3 s to import): they load on first use
# (PEP 562), so that `import qgraph` and the CLI commands that need no model stay fast.
_LAZY = {
    "compile": "qgraph.api",
    "inspect": "qgraph.inspection",
    "load": "qgraph.api",
    "to_keras": "qgraph.api",
    "cluster": "qgraph.compress.api",
    "prune": "qgraph.compress.api",
    "quantize_model": "qgraph.qat",
    "verify": "qgraph.debugging",
    "view": "qgraph.viewer",
}

if TYPE_CHECKING:  # what type checkers see; at run time `__getattr__` provides these
    from qgraph.api import compile, load, to_keras
    from qgraph.compress.api import cluster, prune
    from qgraph.debugging import verify
    from qgraph.inspection import inspect
    from qgraph.qat import quantize_model
    from qgraph.viewer import view


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# `keras.models.load_model` reads a saved QAT model after a plain `import qgraph`: this
# registers qgraph's Keras layers now if Keras is imported, else as soon as it is.
_keras_registration.install()

__all__ = [
    "FunctionPass",
    "Graph",
    "LintError",
    "ModelFileError",
    "Op",
    "OpDef",
    "Option",
    "OptionError",
    "Pass",
    "PassContext",
    "PassError",
    "PassManager",
    "PassOrderError",
    "QGraphError",
    "QuantParams",
    "RewritePass",
    "REQUIRED",
    "Target",
    "TargetError",
    "Tensor",
    "UnsupportedLayerError",
    "UnsupportedOpError",
    "__version__",
    "cluster",
    "compile",
    "hookimpl",
    "inspect",
    "lint",
    "load",
    "op_def",
    "op_defs",
    "prune",
    "quantize_model",
    "register_plugin",
    "to_keras",
    "unregister_plugin",
    "verify",
    "view",
]
