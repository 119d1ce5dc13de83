"""float activation with an observed range  =>  the same tensor with int8 QuantParams (per tensor)

Parameters come from the calibrated range, widened to contain 0 and nudged so that 0 is
exact (FakeQuant's rule). Outputs of SOFTMAX and LOGISTIC get the kernels' fixed (1/256,
-128), TANH (1/128, 0). Same-scale ops and concat are settled by the passes after this.

    >>> QuantizeActivations().run(graph, ctx)  # conv:0 range (0, 6)  =>  q(s=6/255, z=-128)
"""

from __future__ import annotations

from qgraph.ir import Graph
from qgraph.ops import op_facts
from qgraph.pipeline import Pass, PassContext
from qgraph.quant.annotations import observed_range
from qgraph.quant.calibrate import observed_tensors
from qgraph.quant.numerics import activation_params, fixed_output_params


class QuantizeActivations(Pass):
    name = "quantize_activations"
    phase = "quantize"
    modes = ("int8",)
    after = ("calibrate",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        count = 0
        for name in observed_tensors(graph):
            t = graph.tensor(name)
            observed = observed_range(t)
            if observed is None:  # a QAT model's float part, or a pass-through output
                continue
            lo, hi = observed
            t.quant = activation_params(lo, hi)
            count += 1
        fixed = 0
        for op in graph.ops():
            if op_facts(op.type).fixed_output is not None and graph.outputs_of(op)[0].quant is not None:
                graph.outputs_of(op)[0].quant = fixed_output_params(op.type)
                fixed += 1
        ctx.log(f"int8 parameters for {count} activations ({fixed} fixed by SOFTMAX/LOGISTIC/TANH)")
        return count > 0
