"""The IR's node payloads: `Op`, `Tensor` and `QuantParams`.

They are plain dataclasses; the `Graph` owns how they connect. Shapes use -1 for a
dimension unknown until run time (the batch), exactly as TFLite's `shape_signature`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: dtypes the IR knows; the names are numpy's so `np.dtype(t.dtype)` always works.
DTYPES = ("float32", "float16", "int32", "int64", "int16", "int8", "uint8", "bool")


@dataclass
class QuantParams:
    """Affine quantization of a tensor: real = (q - zero_point) * scale.

    `axis` is None for per-tensor parameters, else the quantized dimension and
    `scale`/`zero_point` hold one value per slice along it. `min`/`max` keep the
    observed float range the parameters came from (for reports and re-derivation).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    dtype: str = "int8"

    def __post_init__(self) -> None:
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))

    @property
    def per_axis(self) -> bool:
        return self.axis is not None


@dataclass
class Tensor:
    """A value in the graph: an activation (data is None) or a constant (data set)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    data: np.ndarray | None = None
    quant: QuantParams | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def nbytes(self) -> int:
        return 0 if self.data is None else int(self.data.nbytes)

    def copy(self) -> Tensor:
        # Constant data is shared, never mutated in place by passes (they assign new arrays).
        return Tensor(
            self.name, self.shape, self.dtype, self.data, copy.deepcopy(self.quant), dict(self.meta)
        )


@dataclass
class Op:
    """An operation. `type` names its `OpDef` in the op registry (`qgraph.op_defs()`): a TFLite
    builtin name such as ``CONV_2D``, a pre-legalization type such as ``BATCH_NORM``, or a
    plugin's op; `attrs` are its options, named and defaulted by that OpDef."""

    name: str
    type: str
    attrs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> Op:
        return Op(self.name, self.type, copy.deepcopy(self.attrs), dict(self.meta))


#: the integer range of each quantized dtype.
QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}
