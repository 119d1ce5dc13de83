"""candidate op -> check(op) is None  =>  rewrite(op) ;  check(op) == reason  =>  log "kept <op>: <reason>"

The loop, the count, the "already removed by an earlier rewrite" guard and the logging of
every refusal live here once; a pass states what it matches, why it refuses, and how it
rewrites. Also the checks that several folding passes share, each returning a reason or None.

    class DropDoubleRelu(RewritePass):
        name = "drop_double_relu"; phase = "optimize"; match_types = ("RELU",)
        def check(self, graph, op, ctx):
            producer = graph.producer(graph.inputs_of(op)[0])
            if producer is None or producer.type != "RELU":
                return "its input does not come from a RELU"
            return sole_reader_reason(graph, producer, op)
        def rewrite(self, graph, op, ctx):
            graph.absorb_into_producer(op)  # logs "rewrote <op>"
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from qgraph.pipeline import Pass, PassContext

if TYPE_CHECKING:
    from qgraph.ir import Graph, Op


class RewritePass(Pass):
    """A pass that rewrites ops one at a time: subclasses set `match_types` (or override
    `candidates`) and implement `check` and `rewrite`."""

    match_types: Collection[str] = ()
    #: how a refusal is logged; `{op}` is the op's name, `{reason}` what `check` returned.
    refusal: str = "kept {op}: {reason}"
    #: logged once after the loop, e.g. "fused {count} activations"; a pass with a summary
    #: logs no per-op line unless `rewrite` returns one.
    summary: str | None = None

    def candidates(self, graph: Graph, ctx: PassContext) -> Iterable[Op]:
        """Ops to consider, in topological order; the default: ops whose type is in `match_types`."""
        return [op for op in graph.ops() if op.type in self.match_types]

    def check(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        """None: rewrite `op`; else the reason it is refused, naming the op at fault."""
        raise NotImplementedError

    def rewrite(self, graph: Graph, op: Op, ctx: PassContext) -> str | None:
        """Rewrite `op` (check passed); return the message to log, or None for the default."""
        raise NotImplementedError

    def fallback(self, graph: Graph, op: Op, ctx: PassContext) -> bool:
        """What a refused op gets instead (e.g. a lowering); returns whether the graph changed."""
        return False

    def finish(self, graph: Graph, ctx: PassContext, rewritten: int) -> None:
        """Runs once after the loop (e.g. to prune what the rewrites left dead)."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        rewritten, changed = 0, False
        for op in self.candidates(graph, ctx):
            if op.name not in graph.nx:  # removed by an earlier rewrite in this run
                continue
            reason = self.check(graph, op, ctx)
            if reason is not None:
                ctx.log(self.refusal.format(op=op.name, reason=reason))
                changed |= self.fallback(graph, op, ctx)
                continue
            message = self.rewrite(graph, op, ctx)
            rewritten += 1
            if message is not None or self.summary is None:
                ctx.log(message or f"rewrote {op.name}")
        if rewritten and self.summary is not None:
            ctx.log(self.summary.format(count=rewritten))
        self.finish(graph, ctx, rewritten)
        return changed or rewritten > 0


def sole_reader_reason(graph: Graph, producer: Op, reader: Op) -> str | None:
    """Folding `reader` into `producer` changes what producer writes: nobody else may read it."""
    if graph.sole_reader(graph.outputs_of(producer)[0]) is not reader:
        return f"{producer.name}'s output is also read elsewhere"
    return None


def fused_activation_reason(op: Op) -> str | None:
    """An op with a fused activation clamps its output: a scale or shift cannot move across it."""
    fused = op.attrs.get("fused", "NONE")
    return None if fused == "NONE" else f"{op.name} already has fused {fused}"


def constant_weights_reason(graph: Graph, op: Op, with_bias: bool = True) -> str | None:
    """Folding edits the weights (port 1) and bias (port 2): they must be constants."""
    ports = graph.inputs_of(op)[1 : 3 if with_bias else 2]
    if any(t.data is None for t in ports):
        return f"{op.name}'s weights are not constant"
    return None
