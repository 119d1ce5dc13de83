"""Keras model -> IR. Walks a Functional graph node by node (Sequential models through
their functional form, nested models flattened) and lowers each layer with the table in
`lowering.py` (filled by `keras_layers*.py`), after giving plugins the first word through `qgraph_lower_layer`.

Works for Keras 3 and tf-keras: the two differ only in how a graph node names its layer
and its tensors, which `_node_parts` hides.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from qgraph.errors import QGraphError
from qgraph.frontend import (
    keras_layers,
    keras_layers_1d,
    keras_layers_attention,
    keras_layers_nn,
    keras_layers_qat,
    keras_layers_rnn,
    keras_ops,
    tf_graph,
)
from qgraph.frontend.lowering import LowerCtx, lowering_for
from qgraph.ir import Graph, Op, Tensor
from qgraph.plugin_manager import plugin_manager
from qgraph.quant.annotations import set_observed_range

#: the modules whose `@lowers` functions fill `lowering.LOWERINGS` (imported for that effect).
LOWERING_MODULES = (
    keras_layers,
    keras_layers_1d,
    keras_layers_attention,
    keras_layers_nn,
    keras_layers_qat,
    keras_layers_rnn,
    keras_ops,
)


#: dtypes of integer activations (model inputs declared `keras.Input(..., dtype="uint8")`).
INTEGER_DTYPES = ("int32", "int8", "uint8")
#: layers whose lowering reads an integer input as integers (indices), and qgraph's own op
#: layer, whose CASTs are explicit ops already; every other lowering computes in float.
INTEGER_INPUT_LAYERS = frozenset({"Embedding", "IROp"})


def load_keras_file(
    path: str | os.PathLike, *, safe_mode: bool = True, custom_objects: dict | None = None
) -> Any:
    """Load a `.keras` / `.h5` file with the Keras that saved it: Keras 3, or tf-keras for a
    Keras 2 file (see `keras_file.py`). `safe_mode` and `custom_objects` go to its loader."""
    from qgraph.frontend.keras_file import load_model_file
    from qgraph.input_files import check_input_file

    path = os.fspath(path)
    check_input_file(path)
    return load_model_file(path, safe_mode=safe_mode, custom_objects=custom_objects)


def from_keras(model: Any) -> Graph:
    """Lower a built Keras 3 or tf-keras model to a `Graph`."""
    functional = _as_functional(model)
    graph = Graph(model.name)
    env: dict[int, Tensor] = {}
    for kt in functional.inputs:
        t = graph.add_tensor(Tensor(_input_name(kt), _shape(kt.shape), _dtype(kt)))
        env[id(kt)] = t
        graph.inputs.append(t.name)
    _lower_functional(functional, graph, env, prefix="")
    graph.outputs = [env[id(kt)].name for kt in functional.outputs]
    graph.meta["output_names"] = _output_names(functional)
    graph.meta["source"] = f"{type(model).__module__.split('.')[0]} {type(model).__name__}"
    return graph


def _lower_functional(model: Any, graph: Graph, env: dict[int, Tensor], prefix: str) -> None:
    depths = sorted(model._nodes_by_depth, reverse=True)
    for depth in depths:
        for node in model._nodes_by_depth[depth]:
            layer, in_kts, out_kts = _node_parts(node)
            if type(layer).__name__ == "InputLayer" or getattr(node, "is_input", False):
                continue
            if any(id(kt) not in env for kt in in_kts):
                continue  # a node of this layer from another model: not part of this graph
            inputs = [env[id(kt)] for kt in in_kts]
            args, kwargs = _call_arguments(node, env)
            outputs = _lower_layer(layer, inputs, out_kts, graph, prefix, args, kwargs)
            if len(outputs) != len(out_kts):
                raise QGraphError(
                    f"lowering of layer {layer.name!r} gave {len(outputs)} outputs, Keras has {len(out_kts)}"
                )
            for kt, t in zip(out_kts, outputs, strict=True):
                env[id(kt)] = t


def _lower_layer(
    layer: Any,
    inputs: list[Tensor],
    out_kts: list,
    graph: Graph,
    prefix: str,
    args: tuple = (),
    kwargs: dict | None = None,
) -> list[Tensor]:
    if _is_model(layer):  # nested model: flatten it into this graph
        inner = _as_functional(layer)
        inner_env = {id(kt): t for kt, t in zip(inner.inputs, inputs, strict=True)}
        _lower_functional(inner, graph, inner_env, prefix=f"{prefix}{layer.name}/")
        return [inner_env[id(kt)] for kt in inner.outputs]
    custom = plugin_manager().hook.qgraph_lower_layer(layer=layer, inputs=inputs, graph=graph)
    if custom is not None:
        return list(custom)
    lower, why = lowering_for(layer)
    if lower is not None and type(layer).__name__ not in INTEGER_INPUT_LAYERS:
        inputs, args, kwargs = _promote_integers(graph, layer, prefix, inputs, args, kwargs)
    ctx = LowerCtx(
        graph,
        layer,
        f"{prefix}{layer.name}",
        inputs,
        [_shape(kt.shape) for kt in out_kts],
        tuple(args),
        dict(kwargs or {}),
    )
    if lower is None:  # a layer qgraph does not know: lower what TensorFlow traces it to
        return tf_graph.lower_traced(ctx, why)
    return lower(ctx)


def _promote_integers(
    graph: Graph, layer: Any, prefix: str, inputs: list[Tensor], args: tuple, kwargs: dict | None
) -> tuple[list[Tensor], tuple, dict]:
    """`inputs` (and the same tensors in the call arguments) with every integer activation
    replaced by a CAST of it to float32: Keras promotes an integer input of a float layer
    to float32 (`Rescaling` casts it, `Dense` multiplies it with float weights), and the
    lowerings write float ops, whose LiteRT kernels refuse integer tensors."""
    name, meta = f"{prefix}{layer.name}", {"layer": layer.name, "class": type(layer).__name__}
    casts: dict[str, Tensor] = {}
    for t in inputs:
        if t.dtype in INTEGER_DTYPES and not t.is_constant and t.name not in casts:
            wide = graph.add_tensor(Tensor(f"{name}/cast_{t.name}:0", t.shape, "float32"))
            graph.add_op(Op(f"{name}/cast_{t.name}", "CAST", {"to": "float32"}, meta), [t], [wide])
            if t.dtype in ("uint8", "int8"):
                # Every value of the type is exact at scale 1: int8 keeps the integers as they are.
                info = np.iinfo(t.dtype)
                set_observed_range(wide, (float(info.min), float(info.max)))
            casts[t.name] = wide
    if not casts:
        return inputs, args, dict(kwargs or {})

    def swap(value: Any) -> Any:
        if isinstance(value, Tensor):
            return casts.get(value.name, value)
        if isinstance(value, list | tuple):
            return type(value)(swap(v) for v in value)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    return [casts.get(t.name, t) for t in inputs], swap(tuple(args)), swap(dict(kwargs or {}))


def _node_parts(node: Any) -> tuple[Any, list, list]:
    if hasattr(node, "operation"):  # Keras 3
        return node.operation, list(node.input_tensors), list(node.output_tensors)
    import tensorflow as tf  # tf-keras

    return node.layer, list(node.keras_inputs), tf.nest.flatten(node.outputs)


def _call_arguments(node: Any, env: dict[int, Tensor]) -> tuple[tuple, dict]:
    """The node's call arguments with every Keras tensor replaced by its IR tensor."""
    if hasattr(node, "arguments"):  # Keras 3
        args, kwargs = node.arguments.args, node.arguments.kwargs
    else:  # tf-keras
        args, kwargs = getattr(node, "call_args", ()), getattr(node, "call_kwargs", {})

    def swap(value: Any) -> Any:
        if id(value) in env:
            return env[id(value)]
        if isinstance(value, list | tuple):
            return type(value)(swap(v) for v in value)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    return tuple(swap(a) for a in args), {k: swap(v) for k, v in (kwargs or {}).items()}


def _is_model(layer: Any) -> bool:
    return hasattr(layer, "_nodes_by_depth") or type(layer).__name__ == "Sequential"


def _as_functional(model: Any) -> Any:
    name = type(model).__name__
    if name == "Sequential" and hasattr(model, "_functional"):  # Keras 3
        if model._functional is None:
            raise QGraphError(
                f"Sequential model {model.name!r} is not built: give it a keras.Input or call build()"
            )
        return model._functional
    if hasattr(model, "_nodes_by_depth") and getattr(model, "_is_graph_network", True):
        if not getattr(model, "inputs", None):
            raise QGraphError(f"model {model.name!r} is not built: give it a keras.Input or call build()")
        return model
    raise QGraphError(
        f"model {getattr(model, 'name', model)!r} (class {type(model).__name__}) is not a Sequential or Functional "
        "model; subclassed models have no static graph to lower. Rebuild it with the Functional API."
    )


def _shape(shape: Any) -> tuple[int, ...]:
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    return tuple(-1 if d is None else int(d) for d in dims)


def _dtype(kt: Any) -> str:
    dt = getattr(kt.dtype, "name", kt.dtype)
    return str(dt) if str(dt) in ("float32", "int32", "int8", "uint8") else "float32"


def _input_name(kt: Any) -> str:
    history = getattr(kt, "_keras_history", None)
    return history[0].name if history else kt.name.split(":")[0]


def _output_names(model: Any) -> list[str]:
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    return [kt._keras_history[0].name for kt in model.outputs]
