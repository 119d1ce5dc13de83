"""float weight W of CONV_2D|FULLY_CONNECTED|TRANSPOSE_CONV|GATHER (not depthwise unless named)
    =>  W * mask, annotated `WeightConstraint(Pruning(schedule), mask)`

Runs for `qgraph.prune` (mode "prune"). The mask is the one the schedule asks for at step 0
(constant: the full sparsity at once; polynomial: `initial_sparsity`); the emitted model
updates it during `fit`. `block` applies to 2-D (FULLY_CONNECTED) weights; `m_by_n` needs
input channels in multiples of n: a weight that does not fit is left dense, with a report line.

    >>> PrunePass().run(graph, ctx)   # stem/kernel f32[16,3,3,1]: 50.0% pruned (constant)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qgraph.compress.constraints import SCHEDULES, Pruning, WeightConstraint, constraint_of, set_constraint
from qgraph.compress.select import compressible_weights
from qgraph.errors import OptionError
from qgraph.ir import Graph
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext


class PruneWeights(Pass):
    name = "prune_weights"
    phase = "compress"
    modes = ("prune",)
    options = (
        Option("select", object, None, "a predicate on an op: which ops are compressed (default: all)"),
        Option("pruning", Pruning, None, "the pruning (sparsity, schedule, block, m_by_n)"),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        # keras.ops kernels: imported here, not at the top, so that listing the passes
        # (`qgraph passes`) does not import Keras and TensorFlow.
        from qgraph.compress.kernels import as_numpy, magnitude_mask, scheduled_sparsity

        base: Pruning = ctx.option("pruning") or Pruning()
        changed, skipped = False, []
        for cw in compressible_weights(graph, ctx.option("select")):
            w, old = cw.tensor.data, constraint_of(cw.tensor)
            assert w is not None
            if old is not None and old.clustering is not None:
                raise OptionError(
                    f"layer {cw.layer!r} is clustered: prune first, then cluster with preserve_sparsity=True"
                )
            pruning = replace(base, input_axis=cw.input_axis)
            if pruning.m_by_n is not None and w.shape[cw.input_axis] % pruning.m_by_n[1]:
                skipped.append(
                    f"left {cw.layer} dense: {w.shape[cw.input_axis]} input channels are not a multiple "
                    f"of {pruning.m_by_n[1]} ({pruning.m_by_n[0]}:{pruning.m_by_n[1]} sparsity)"
                )
                ctx.log(skipped[-1])
                continue
            if pruning.block != (1, 1) and w.ndim != 2:
                ctx.log(
                    f"pruned {cw.layer} ({cw.op.type}) element by element: block sparsity is for 2-D weights"
                )
                pruning = replace(pruning, block=(1, 1))
            start = scheduled_sparsity(pruning, pruning.begin_step) if pruning.begin_step <= 0 else 0.0
            mask = as_numpy(magnitude_mask(w, start, pruning.block, pruning.m_by_n, pruning.input_axis)) > 0.5
            cw.tensor.data = np.where(mask, w, 0).astype(w.dtype)
            set_constraint(cw.tensor, WeightConstraint(pruning, mask=mask))
            ctx.log(
                f"{cw.layer} ({cw.op.type} {list(w.shape)}): {1 - mask.mean():.1%} pruned now, {_target(pruning)}"
            )
            changed = True
        if not changed:
            raise OptionError(
                "; ".join(skipped)
                or "no layer has weights to prune (Conv, Dense, Embedding, attention kernels)"
            )
        return changed


def _target(p: Pruning) -> str:
    if p.m_by_n is not None:
        return f"{p.m_by_n[0]}:{p.m_by_n[1]} along the input channel"
    end = "no end" if p.end_step < 0 else f"step {p.end_step}"
    how = f"{p.schedule} {p.sparsity:.0%}" if p.schedule in SCHEDULES else p.schedule
    return f"{how} from step {p.begin_step} to {end}, every {p.frequency} steps" + (
        f", blocks {p.block[0]}x{p.block[1]}" if p.block != (1, 1) else ""
    )
