"""qgraph: Keras models -> networkx IR -> ordered passes -> TFLite for cpu, edgetpu and nnapi.

import qgraph
g = qgraph.load(model)                       # Keras model or .keras/.h5 path -> Graph
print(g.dump())
result = qgraph.compile(model, target="cpu", output="model.tflite")
qat = qgraph.quantize_model(qgraph.prune(model))  # trainable: pruning, clustering, QAT
"""

from qgraph.errors import (
    LintError,
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

from qgraph.api import compile, load, to_keras  # noqa: E402  (api imports the names above)
from qgraph.compress.api import cluster, prune  # noqa: E402

# Importing these registers qgraph's Keras layers (IROp, ActivationQuantizer), so that
# `keras.models.load_model` reads a saved QAT model after a plain `import qgraph`.
from qgraph.emit import keras as _emit_keras  # noqa: E402,F401
from qgraph.qat import quantize_model  # noqa: E402
from qgraph.quant import layers as _quant_layers  # noqa: E402,F401

__all__ = [
    "FunctionPass",
    "Graph",
    "LintError",
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
    "lint",
    "load",
    "op_def",
    "op_defs",
    "prune",
    "quantize_model",
    "register_plugin",
    "to_keras",
    "unregister_plugin",
]
