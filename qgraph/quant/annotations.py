"""Typed quantization annotations: the facts passes, the emitters and the QAT layers pass
to each other through the IR, read and written only through the accessors here.

On a tensor:
- `fake_quant_of` / `set_fake_quant`: the `ActivationFakeQuant` of a QAT graph (which
  quantizer rounds it, whether it updates that quantizer's range, which ops read it raw);
- `observed_range` / `set_observed_range`: its float `Range`, from calibration or learned
  by a QAT model; `quantize_activations` turns it into int8 parameters.
On an op:
- `is_float` / `mark_float`: left out of quantization, kept float in training and export;
- `weight_fake_quants` / `set_weight_fake_quants`: `WeightFakeQuant` per constant input
  port, how training simulates (and the export stores) its weights.
On the graph:
- `quantizers` / `set_quantizers`: the activation quantizers of a QAT graph, by name
  (`QuantizerSpec`, one `ActivationQuantizer` layer each);
- `has_learned_ranges` / `mark_learned_ranges`: loaded from a QAT Keras model, so the
  tensors carry learned ranges (int8 by default, no calibration data needed).

    >>> set_fake_quant(t, ActivationFakeQuant("cat:0", observe=False, raw_for=("cat",)))
    >>> fake_quant_of(t).quantizer
    'cat:0'

Every value is immutable (frozen dataclasses, tuples) and stored whole under one `meta` key
per fact, so the shallow `meta` copies of `Graph.copy()` never share mutable state: a setter
replaces, it never updates in place. An absent annotation reads as its default (None,
False or empty). None of them reaches a `.tflite` file or a Keras config directly: the
emitter writes Keras configs in their own format (`WeightFakeQuant.to_config`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from qgraph.ir import Graph, Op, Tensor

# One `meta` key per fact; only this module spells them.
_FAKE_QUANT = "quant.fake_quant"
_RANGE = "quant.range"
_FLOAT = "quant.float"
_WEIGHT_FAKE_QUANT = "quant.weight_fake_quant"
_QUANTIZERS = "quant.quantizers"
_LEARNED_RANGES = "quant.learned_ranges"


class Range(NamedTuple):
    """The float range of an activation, (min, max)."""

    min: float
    max: float


def _pair(values: Iterable[float] | None) -> tuple[float, float] | None:
    if values is None:
        return None
    lo, hi = (float(v) for v in values)
    return (lo, hi)


@dataclass(frozen=True)
class ActivationFakeQuant:
    """Where a QAT graph fake-quantizes a tensor.

    `quantizer` names the graph's `QuantizerSpec` (several tensors share one: the inputs of
    a concat); `observe`: this tensor updates the quantizer's range in training (False for
    a shared or fixed one); `raw_for`: ops that read the value before fake-quant (a concat,
    whose own output quantizer rounds all its inputs at once)."""

    quantizer: str
    observe: bool = True
    raw_for: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_for", tuple(self.raw_for))


@dataclass(frozen=True)
class QuantizerSpec:
    """One activation quantizer of a QAT graph (an `ActivationQuantizer` layer): `bits`,
    a `fixed` range (SOFTMAX / LOGISTIC / TANH outputs) or None for a learned one, and the
    `init` range a calibration run seeds it with (None: the first training batch does)."""

    bits: int = 8
    fixed: tuple[float, float] | None = None
    init: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", int(self.bits))
        object.__setattr__(self, "fixed", _pair(self.fixed))
        object.__setattr__(self, "init", _pair(self.init))


@dataclass(frozen=True)
class WeightFakeQuant:
    """How an op's constant input is quantized in training and in the export: weights
    symmetric, narrow range, per slice along `axis` (None: per tensor) at `bits`; `affine`
    for an ADD/MUL operand: int8 per tensor over its [min, max]."""

    axis: int | None = None
    bits: int = 8
    affine: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", None if self.axis is None else int(self.axis))
        object.__setattr__(self, "bits", int(self.bits))
        object.__setattr__(self, "affine", bool(self.affine))

    def to_config(self) -> dict[str, Any]:
        """The entry of an `IROp` layer's `weight_fq` config (its saved format)."""
        config: dict[str, Any] = {"axis": self.axis, "bits": self.bits}
        if self.affine:
            config["affine"] = True
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WeightFakeQuant:
        return cls(config.get("axis"), config.get("bits", 8), config.get("affine", False))


# ---- tensors ---------------------------------------------------------------------------
def fake_quant_of(tensor: Tensor) -> ActivationFakeQuant | None:
    """The tensor's activation fake-quant in a QAT graph, or None (not fake-quantized)."""
    return tensor.meta.get(_FAKE_QUANT)


def set_fake_quant(tensor: Tensor, spec: ActivationFakeQuant | None) -> None:
    """Annotate (or with None, clear) the tensor's activation fake-quant."""
    _put(tensor.meta, _FAKE_QUANT, spec)


def reads_raw(op: Op, tensor: Tensor) -> bool:
    """Whether `op` reads `tensor` before its fake-quant (a concat reading a shared input)."""
    spec = fake_quant_of(tensor)
    return spec is not None and op.name in spec.raw_for


def observed_range(tensor: Tensor) -> Range | None:
    """The tensor's float range (calibrated or learned by QAT), or None."""
    return tensor.meta.get(_RANGE)


def set_observed_range(tensor: Tensor, value: Iterable[float] | None) -> None:
    """Record the tensor's float range as (min, max), or with None, forget it."""
    pair = _pair(value)
    _put(tensor.meta, _RANGE, None if pair is None else Range(*pair))


# ---- ops -------------------------------------------------------------------------------
def is_float(op: Op) -> bool:
    """Whether the op was left out of quantization (a QAT selection): it stays float."""
    return bool(op.meta.get(_FLOAT, False))


def mark_float(op: Op, value: bool = True) -> None:
    """Keep the op float in training and in the export (or with False, undo)."""
    _put(op.meta, _FLOAT, True if value else None)


def weight_fake_quants(op: Op) -> dict[int, WeightFakeQuant]:
    """{input port: WeightFakeQuant} of the op's fake-quantized constants (a copy; empty if none)."""
    return dict(op.meta.get(_WEIGHT_FAKE_QUANT, {}))


def set_weight_fake_quants(op: Op, specs: Mapping[int, WeightFakeQuant]) -> None:
    """Replace the op's weight fake-quants (an empty mapping clears them)."""
    _put(op.meta, _WEIGHT_FAKE_QUANT, {int(p): s for p, s in specs.items()} or None)


# ---- graph -----------------------------------------------------------------------------
def quantizers(graph: Graph) -> dict[str, QuantizerSpec]:
    """{name: QuantizerSpec} of a QAT graph's activation quantizers (a copy; empty if none)."""
    return dict(graph.meta.get(_QUANTIZERS, {}))


def set_quantizers(graph: Graph, specs: Mapping[str, QuantizerSpec]) -> None:
    """Replace the graph's activation quantizers (an empty mapping clears them)."""
    _put(graph.meta, _QUANTIZERS, dict(specs) or None)


def has_learned_ranges(graph: Graph) -> bool:
    """Whether the graph was loaded from a QAT Keras model, whose quantizers gave its
    tensors their ranges: int8 by default, and no calibration data needed."""
    return bool(graph.meta.get(_LEARNED_RANGES, False))


def mark_learned_ranges(graph: Graph, value: bool = True) -> None:
    _put(graph.meta, _LEARNED_RANGES, True if value else None)


def _put(meta: dict[str, Any], key: str, value: Any) -> None:
    # Absent means default: a cleared annotation leaves no key behind.
    if value is None:
        meta.pop(key, None)
    else:
        meta[key] = value
