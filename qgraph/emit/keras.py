"""IR -> Keras model. Every op becomes one `IROp` layer: float constants become its weights
(so they train, save and load with the model), integer constants (axes, shapes, paddings)
its config, and activations its call inputs. Each op's kernel is its `OpDef.kernel`.

    model = qgraph.to_keras(graph)                 # computes what the IR computes
    model = qgraph.to_keras(graph, outputs=[...])  # extra tensors as outputs (calibration)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from qgraph.compress.constraints import WeightConstraint, constraint_of
from qgraph.compress.training import ConstrainedWeight
from qgraph.errors import UnsupportedOpError
from qgraph.ir import Graph, Op, Tensor
from qgraph.ops import op_def
from qgraph.quant.annotations import fake_quant_of, is_float, quantizers, reads_raw, weight_fake_quants


@keras.saving.register_keras_serializable(package="qgraph")
class IROp(keras.layers.Layer):
    """One IR op as a Keras layer. `ports` says, per input port, where its value comes from:
    ``{"kind": "input"}`` (a call input), ``{"kind": "weight", "shape": [...]}`` (a layer
    weight), or ``{"kind": "const", "value": [...], "dtype": ...}`` (fixed in the config)."""

    def __init__(
        self,
        op_type: str,
        attrs: dict,
        ports: list[dict],
        weight_fq: dict | None = None,
        float_op: bool = False,
        constraints: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.float_op = bool(float_op)  # left out of QAT: the exporter keeps it float
        # {port: {"axis", "bits"}}: weights fake-quantized (symmetric, narrow range) in every call.
        self.weight_fq = {int(k): dict(v) for k, v in (weight_fq or {}).items()}
        kernel = op_def(op_type, needs="kernel", op_name=kwargs.get("name")).kernel
        assert kernel is not None  # op_def(needs="kernel") refuses an op without one
        self._compute = kernel
        self.op_type, self.attrs, self.ports = op_type, dict(attrs), [dict(p) for p in ports]
        # String keys: TensorFlow's SavedModel export (TFLiteConverter) refuses int-keyed dicts.
        self._by_port: dict[str, Any] = {}
        for i, p in enumerate(self.ports):
            if p["kind"] == "weight":
                self._by_port[str(i)] = self.add_weight(
                    name=p.get("name", f"w{i}"),
                    shape=tuple(p["shape"]),
                    initializer="zeros",
                    trainable=p.get("trainable", True),
                    dtype="float32",
                )
        # {port: WeightConstraint config}: pruned and/or clustered weights (qgraph.compress).
        self.constraint_configs = {str(k): dict(v) for k, v in (constraints or {}).items()}
        self._constrained_by_port = {
            str(port): ConstrainedWeight(self, port, tuple(self.ports[port]["shape"]), config)
            for port, config in ((int(k), v) for k, v in self.constraint_configs.items())
        }

    @property
    def port_weights(self) -> dict[int, Any]:
        """{input port: its weight variable}."""
        return {int(k): v for k, v in self._by_port.items()}

    @property
    def constrained(self) -> dict[int, ConstrainedWeight]:
        """{input port: its constraint (pruning mask, clusters)}, for the constrained weights."""
        return {int(k): v for k, v in self._constrained_by_port.items()}

    def call(self, inputs, training=None):
        inputs = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        values, it = [], iter(inputs)
        for i, p in enumerate(self.ports):
            if p["kind"] == "input":
                values.append(next(it))
            elif p["kind"] == "weight":
                w = self._by_port[str(i)]
                if str(i) in self._constrained_by_port:
                    w = self._constrained_by_port[str(i)](w, training)
                values.append(w if i not in self.weight_fq else fake_quant_weight(w, **self.weight_fq[i]))
            else:
                values.append(np.asarray(p["value"], dtype=p["dtype"]))
        return self._compute(values, self.attrs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "op_type": self.op_type,
            "attrs": self.attrs,
            "ports": self.ports,
            "weight_fq": {str(k): v for k, v in self.weight_fq.items()},
            "float_op": self.float_op,
            "constraints": dict(self.constraint_configs),
        }


def fake_quant_weight(w, axis: int | None, bits: int, affine: bool = False):
    """Fake-quantize a constant as the exporter stores it; straight-through gradient.
    Weights: symmetric, narrow range, scale = max|w| / (2^(bits-1) - 1), per slice along
    `axis` (or per tensor). `affine`: an ADD/MUL operand, int8 per tensor over [min, max]."""
    ops = keras.ops
    if affine:
        lo, hi = ops.minimum(ops.min(w), 0.0), ops.maximum(ops.max(w), 0.0)
        return keras.quantizers.fake_quant_with_min_max_vars(w, lo, hi, num_bits=bits)
    reduce_axes = tuple(a for a in range(len(w.shape)) if a != axis)
    amax = ops.maximum(ops.max(ops.abs(w), axis=reduce_axes), 1e-12)
    return keras.quantizers.fake_quant_with_min_max_vars(
        w, -amax, amax, num_bits=bits, narrow_range=True, axis=axis
    )


def to_keras(
    graph: Graph,
    outputs: Sequence[str] | None = None,
    name: str | None = None,
    fake_quant: bool = False,
    constraints: bool = False,
) -> keras.Model:
    """Build a Keras model computing `graph` (outputs: graph outputs, or the named tensors).
    With `fake_quant`, the annotations of the `insert_fake_quant` pass become quantizer
    layers and weight fake-quantization (the QAT model); with `constraints`, the weight
    constraints (pruning masks and schedules, clusters) train with the model, and a BatchNorm
    still in the graph is a Keras `BatchNormalization` whose statistics train with them."""
    from qgraph.quant.layers import ActivationQuantizer

    specs = quantizers(graph) if fake_quant else {}
    layers = {
        q: ActivationQuantizer(
            num_bits=spec.bits, fixed=spec.fixed, init_range=spec.init, name=_safe(f"fq/{q}")
        )
        for q, spec in specs.items()
    }
    raw: dict[str, Any] = {}
    values: dict[str, Any] = {}

    def publish(tname: str, value: Any) -> None:
        raw[tname] = values[tname] = value
        fq = fake_quant_of(graph.tensor(tname)) if fake_quant else None
        if fq is not None:
            layer = layers[fq.quantizer]
            values[tname] = layer(value) if fq.observe else layer(value, observe=False)

    model_inputs = []
    for tname in graph.inputs:
        t = graph.tensor(tname)
        kt = keras.Input(
            shape=tuple(None if d < 0 else d for d in t.shape[1:]), dtype=t.dtype, name=_safe(tname)
        )
        model_inputs.append(kt)
        publish(tname, kt)
    names: set[str] = set()
    for op in graph.ops():
        if constraints and (live := _live_batchnorm(graph, op, names)) is not None:
            bn, x, stats = live  # trains as itself: its statistics follow the constrained weights
            out = bn(values[x.name])
            bn.set_weights(stats)
            publish(graph.outputs_of(op)[0].name, out)
            continue
        layer, call_inputs, weights, constrained = _layer_for(graph, op, names, fake_quant, constraints)
        # A concat reads its inputs raw: its own output quantizer rounds them all at once.
        args = [raw[t.name] if reads_raw(op, t) else values[t.name] for t in call_inputs]
        out = layer(args)
        for port, w in weights.items():
            layer.port_weights[port].assign(w)
        for port, c in constrained.items():
            layer.constrained[port].load(layer.port_weights[port], c, weights[port])
        publish(graph.outputs_of(op)[0].name, out)
    wanted = list(outputs) if outputs is not None else graph.outputs
    missing = [n for n in wanted if n not in values]
    if missing:
        raise KeyError(f"tensors {missing} are not computed by graph {graph.name!r}")
    return keras.Model(model_inputs, [values[n] for n in wanted], name=_safe(name or graph.name))


def _live_batchnorm(
    graph: Graph, op: Op, names: set[str]
) -> tuple[keras.layers.BatchNormalization, Tensor, list[np.ndarray]] | None:
    """A BATCH_NORM with constant statistics as a Keras BatchNormalization (its input, its
    gamma/beta/mean/variance), or None for any other op."""
    if op.type != "BATCH_NORM":
        return None
    x, *params = graph.inputs_of(op)
    if x.data is not None or any(p.data is None for p in params):
        return None
    layer = keras.layers.BatchNormalization(
        axis=-1,
        epsilon=float(op.attrs["epsilon"]),
        momentum=float(op.attrs.get("momentum", 0.99)),
        name=_unique(_safe(op.name), names),
    )
    return layer, x, [np.asarray(p.data, np.float32) for p in params]


def _unique(name: str, names: set[str]) -> str:
    while name in names:
        name += "_"
    names.add(name)
    return name


def _layer_for(
    graph: Graph, op: Op, names: set[str], fake_quant: bool = False, constraints: bool = False
) -> tuple[IROp, list[Tensor], dict[int, np.ndarray], dict[int, WeightConstraint]]:
    if len(graph.outputs_of(op)) != 1:
        raise UnsupportedOpError(
            f"op {op.name!r} ({op.type}) has {len(graph.outputs_of(op))} outputs; "
            "the Keras emitter handles single-output ops"
        )
    ports: list[dict[str, Any]] = []
    call_inputs: list[Tensor] = []
    weights: dict[int, np.ndarray] = {}
    constrained: dict[int, WeightConstraint] = {}
    for i, t in enumerate(graph.inputs_of(op)):
        if t.data is None:
            ports.append({"kind": "input"})
            call_inputs.append(t)
        elif t.data.dtype.kind == "f":
            ports.append({"kind": "weight", "shape": list(t.shape), "name": _safe(t.name.split("/")[-1])})
            weights[i] = t.data.astype(np.float32)
            c = constraint_of(t) if constraints else None
            if c is not None:
                constrained[i] = c
        else:
            ports.append({"kind": "const", "value": t.data.tolist(), "dtype": str(t.data.dtype)})
    if not call_inputs:
        raise UnsupportedOpError(f"op {op.name!r} ({op.type}) reads only constants; fold it before emitting")
    op_def(op.type, needs="kernel", op_name=op.name)
    layer_name = _unique(_safe(op.name), names)
    wfq = {p: spec.to_config() for p, spec in weight_fake_quants(op).items()} if fake_quant else {}
    layer = IROp(
        op.type,
        _jsonable(op.attrs),
        ports,
        weight_fq=wfq,
        float_op=is_float(op),
        constraints={p: c.to_config() for p, c in constrained.items()},
        name=layer_name,
    )
    return layer, call_inputs, weights, constrained


def _jsonable(attrs: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in attrs.items()}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
