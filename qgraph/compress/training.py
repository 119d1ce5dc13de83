"""The trainable side of a weight constraint: the variables an `IROp` layer adds for one
constrained weight, and what its `call` does with them.

- Pruning: a `mask` variable (0/1) multiplies the weight. With a schedule, a step counter
  advances once per training call and, when the schedule says so, the mask is recomputed
  by magnitude; the weight variable itself is then zeroed where masked (as tfmot does), so
  a pruned weight comes back only if it outgrows the kept ones. No callback is needed.
- Clustering: the layer's weight variable holds the latent float weights; every call maps
  each to its nearest `centroids` entry (trainable), see `kernels.cluster_weights`.
Both compose: clustered, then masked, then (QAT) fake-quantized by the `IROp`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from qgraph.compress.constraints import Clustering, Pruning, WeightConstraint
from qgraph.compress.kernels import (
    cluster_weights,
    magnitude_mask,
    scheduled_sparsity,
    update_due,
)


class ConstrainedWeight:
    """The constraint of port `port` of `layer` (an `IROp`), built from its config entry."""

    def __init__(self, layer: Any, port: int, shape: tuple[int, ...], config: dict[str, Any]) -> None:
        self.pruning = Pruning.from_config(config["pruning"]) if config.get("pruning") else None
        self.clustering = Clustering.from_config(config["clustering"]) if config.get("clustering") else None
        common = dict(trainable=False, dtype="float32")
        self.mask = self.step = self.centroids = None
        if self.pruning is not None:
            self.mask = layer.add_weight(name=f"mask{port}", shape=shape, initializer="ones", **common)
            if self.pruning.scheduled:
                self.step = layer.add_weight(
                    name=f"prune_step{port}", shape=(), initializer="zeros", **common
                )
        if self.clustering is not None:
            c = self.clustering
            rows = (shape[c.axis],) if c.per_channel else ()
            self.centroids = layer.add_weight(
                name=f"centroids{port}", shape=(*rows, c.trained_centroids), initializer="zeros"
            )

    def __call__(self, weight: Any, training: bool | None = None) -> Any:
        if training and self.step is not None:
            self._advance(weight)
        w = weight
        if self.centroids is not None and self.clustering is not None:
            w = cluster_weights(weight, self.centroids, self.clustering)
        return w if self.mask is None else w * self.mask

    def _advance(self, weight: Any) -> None:
        p, step = self.pruning, self.step
        assert p is not None and step is not None and self.mask is not None
        fresh = ops.cond(
            update_due(p, step),
            lambda: magnitude_mask(
                weight * self.mask, scheduled_sparsity(p, step), p.block, p.m_by_n, p.input_axis
            ),
            lambda: ops.convert_to_tensor(self.mask),
        )
        self.mask.assign(fresh)
        weight.assign(weight * fresh)
        step.assign_add(1.0)

    # ---- between the IR and the layer ------------------------------------------------------
    def load(self, weight: Any, constraint: WeightConstraint, data: np.ndarray) -> None:
        """Set the variables from the IR: the latent weights (or `data`), mask, centroids."""
        weight.assign(constraint.latent if constraint.latent is not None else data)
        if self.mask is not None and constraint.mask is not None:
            self.mask.assign(constraint.mask.astype(np.float32))
        if self.centroids is not None and constraint.centroids is not None:
            self.centroids.assign(constraint.centroids)

    def annotation(self, weight: Any) -> tuple[np.ndarray, WeightConstraint]:
        """(the weight as the model computes it, the `WeightConstraint` for the IR)."""
        effective = np.asarray(ops.convert_to_numpy(self(weight)), np.float32)
        latent = np.asarray(weight.numpy(), np.float32)
        return effective, WeightConstraint(
            self.pruning,
            self.clustering,
            mask=None if self.mask is None else self.mask.numpy() > 0.5,
            centroids=None if self.centroids is None else self.centroids.numpy(),
            latent=latent if self.centroids is not None else None,
        )
