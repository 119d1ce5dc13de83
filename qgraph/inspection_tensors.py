"""Every tensor of a graph with its dtype, shape, bytes and quantization, and a count of the
quantization kinds (`qgraph inspect`'s tensor section).

    >>> [t.quant.kind for t in tensor_infos(qgraph.load("digits_int8.tflite")) if t.quant][:2]
    ['per-tensor', 'per-axis']
    >>> quantization_kinds(infos)["constants"]
    {'int32 per-axis (axis 0)': 5, 'int8 per-axis (axis 0)': 4, 'int8 per-axis (axis 3)': 1, ...}
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from qgraph.emit.tflite import ABSENT_INPUT
from qgraph.ir import Graph, QuantParams, Tensor


@dataclass(frozen=True)
class QuantInfo:
    """A tensor's affine quantization: per-tensor, or per-axis along `axis` with `channels`
    (scale, zero point) pairs; the range of its scales and of its zero points."""

    kind: str
    axis: int | None
    channels: int
    scale_min: float
    scale_max: float
    zero_point_min: int
    zero_point_max: int

    @property
    def zero_point(self) -> int | tuple[int, int]:
        """The zero point, or its (min, max) when the channels' zero points differ."""
        lo, hi = self.zero_point_min, self.zero_point_max
        return lo if lo == hi else (lo, hi)

    def __str__(self) -> str:
        scale = f"{self.scale_min:.6g}" + (
            f"..{self.scale_max:.6g}" if self.scale_max != self.scale_min else ""
        )
        zp = self.zero_point
        zero = str(zp) if isinstance(zp, int) else f"{zp[0]}..{zp[1]}"
        where = f" axis {self.axis} ({self.channels})" if self.axis is not None else ""
        return f"{self.kind}{where} s={scale} z={zero}"


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: a constant (its stored bytes) or an activation (its bytes at batch 1:
    every unknown dimension, -1, counted as 1)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    constant: bool
    nbytes: int
    quant: QuantInfo | None


def quant_info(q: QuantParams) -> QuantInfo:
    return QuantInfo(
        "per-axis" if q.per_axis else "per-tensor",
        q.axis,
        int(q.scale.size),
        float(q.scale.min()),
        float(q.scale.max()),
        int(q.zero_point.min()),
        int(q.zero_point.max()),
    )


def activation_bytes(t: Tensor) -> int:
    """Bytes of activation `t` for one sample: unknown dimensions (the batch) count as 1."""
    return math.prod(max(d, 1) for d in t.shape) * np.dtype(t.dtype).itemsize


def is_activation(t: Tensor) -> bool:
    """A tensor computed at run time (not a constant, not a placeholder for an absent input)."""
    return t.data is None and not t.meta.get(ABSENT_INPUT)


def tensor_infos(graph: Graph) -> list[TensorInfo]:
    """Every tensor in the order the writer numbers them: graph inputs, then each op's inputs
    and outputs in op order (tensors no op touches last)."""
    order = list(graph.inputs)
    for op in graph.ops():
        order += [t.name for t in graph.inputs_of(op) + graph.outputs_of(op)]
    order += [t.name for t in graph.tensors()]
    infos = []
    for name in dict.fromkeys(order):
        t = graph.tensor(name)
        if t.meta.get(ABSENT_INPUT):
            continue
        nbytes = t.nbytes if t.data is not None else activation_bytes(t)
        quant = quant_info(t.quant) if t.quant is not None else None
        infos.append(TensorInfo(t.name, t.dtype, t.shape, t.data is not None, nbytes, quant))
    return infos


def kind_label(t: TensorInfo) -> str:
    """`int8 per-axis (axis 0)`, `int8 per-tensor`; without quantization, the dtype alone for a
    float (`float32`), else e.g. `int32 (not quantized)` (shapes, axes, indices)."""
    if t.quant is None:
        return t.dtype if t.dtype.startswith("float") else f"{t.dtype} (not quantized)"
    axis = f" (axis {t.quant.axis})" if t.quant.axis is not None else ""
    return f"{t.dtype} {t.quant.kind}{axis}"


def quantization_kinds(infos: list[TensorInfo]) -> dict[str, dict[str, int]]:
    """How many activations and constants have each kind of quantization, most frequent first."""
    return {
        role: dict(Counter(kind_label(t) for t in infos if t.constant == constant).most_common())
        for role, constant in (("activations", False), ("constants", True))
    }
