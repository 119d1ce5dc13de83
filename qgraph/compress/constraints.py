"""Weight constraints: the typed annotation that pruning and clustering leave on a weight
tensor, read and written only through `constraint_of` / `set_constraint`.

A constrained tensor's `data` is always what the graph computes (pruned weights are 0,
clustered weights are centroid values); the annotation adds what training and the export
check need: the `Pruning` schedule and its current `mask`, the `Clustering` and its
`centroids`, and the `latent` float weights that clustering re-assigns every step.

    >>> set_constraint(w, WeightConstraint(Pruning(0.5), mask=w.data != 0))
    >>> constraint_of(w).pruning.sparsity
    0.5

Values are immutable (frozen dataclasses, read-only arrays), so `Graph.copy()`'s shallow
`meta` copies never share mutable state. `to_config` / `from_config` give the JSON form an
`IROp` layer keeps in its Keras config; the arrays live in the layer's variables instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qgraph.ir import Tensor

_CONSTRAINT = "compress.constraint"
SCHEDULES = ("constant", "polynomial")
INITS = ("kmeans++", "linear", "density", "random")


@dataclass(frozen=True)
class Pruning:
    """Magnitude pruning to `sparsity`. `schedule` "constant" prunes to `sparsity` at
    `begin_step`; "polynomial" ramps from `initial_sparsity` to it by `end_step` (cubic, as
    tfmot's PolynomialDecay); "fixed" keeps the mask as it is (PQAT, sparsity-preserving
    clustering). Masks are recomputed every `frequency` training steps from `begin_step` to
    `end_step` (-1: no end). `block` (rows, cols) prunes 2-D weights in blocks by their mean
    magnitude; `m_by_n` = (m, n) keeps the m largest of every n weights along `input_axis`."""

    sparsity: float = 0.5
    schedule: str = "constant"
    begin_step: int = 0
    end_step: int = -1
    frequency: int = 100
    initial_sparsity: float = 0.0
    block: tuple[int, int] = (1, 1)
    m_by_n: tuple[int, int] | None = None
    input_axis: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", tuple(int(v) for v in self.block))
        if self.m_by_n is not None:
            object.__setattr__(self, "m_by_n", tuple(int(v) for v in self.m_by_n))

    @property
    def scheduled(self) -> bool:
        return self.schedule != "fixed"

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Pruning:
        return cls(**config)


@dataclass(frozen=True)
class Clustering:
    """Weight clustering to `clusters` shared values (per output channel along `axis` with
    `per_channel`). `preserve_sparsity` pins one of them at exactly 0 and keeps the mask;
    `init` is how the centroids started (kmeans++, linear, density, random)."""

    clusters: int = 16
    per_channel: bool = False
    axis: int = 0
    preserve_sparsity: bool = False
    init: str = "kmeans++"

    @property
    def trained_centroids(self) -> int:
        """Centroids per tensor (or channel) that train: the pinned zero is not one of them."""
        return self.clusters - 1 if self.preserve_sparsity else self.clusters

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Clustering:
        return cls(**config)


def _frozen(a: Any, dtype: str) -> np.ndarray | None:
    if a is None:
        return None
    out = np.array(a, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class WeightConstraint:
    """What constrains one weight tensor: `pruning` with its current `mask` (True: kept),
    and/or `clustering` with its `centroids` ((k,) or (channels, k), the pinned zero left
    out) and the `latent` weights they are re-assigned from."""

    pruning: Pruning | None = None
    clustering: Clustering | None = None
    mask: np.ndarray | None = None
    centroids: np.ndarray | None = None
    latent: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", _frozen(self.mask, "bool"))
        object.__setattr__(self, "centroids", _frozen(self.centroids, "float32"))
        object.__setattr__(self, "latent", _frozen(self.latent, "float32"))

    def to_config(self) -> dict[str, Any]:
        """The `constraints` entry of an `IROp` layer's config (arrays excluded)."""
        return {
            "pruning": None if self.pruning is None else self.pruning.to_config(),
            "clustering": None if self.clustering is None else self.clustering.to_config(),
        }

    def describe(self) -> str:
        parts = []
        if self.pruning is not None and self.mask is not None:
            kept = float(self.mask.mean()) if self.mask.size else 1.0
            how = self.pruning.schedule if self.pruning.scheduled else "fixed mask"
            parts.append(f"pruned {1 - kept:.1%} ({how})")
        if self.clustering is not None:
            c = self.clustering
            parts.append(
                f"{c.clusters} clusters{' per channel' if c.per_channel else ''}"
                + (" with a zero cluster" if c.preserve_sparsity else "")
            )
        return ", ".join(parts) or "no constraint"


def constraint_of(tensor: Tensor) -> WeightConstraint | None:
    """The tensor's weight constraint (pruning and/or clustering), or None."""
    return tensor.meta.get(_CONSTRAINT)


def set_constraint(tensor: Tensor, constraint: WeightConstraint | None) -> None:
    """Annotate (or with None, clear) the tensor's weight constraint."""
    if constraint is None:
        tensor.meta.pop(_CONSTRAINT, None)
    else:
        tensor.meta[_CONSTRAINT] = constraint
