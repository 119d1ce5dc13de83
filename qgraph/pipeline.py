"""Passes and the PassManager that collects them from the `qgraph_passes` hook, orders them
(phase first, then `after` / `before` within a phase), runs them and records a report.

    class CountOps(qgraph.Pass):
        name = "count_ops"; phase = "optimize"; after = ("fold_batchnorm",)
        options = (qgraph.Option("count_by_type", bool, False, "also count each op type"),)
        def run(self, graph, ctx):
            ctx.log(f"{len(graph.ops())} ops")
            if ctx.option("count_by_type"):
                ctx.log(str(graph.summary()["ops_by_type"]))
            return False
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import networkx as nx

from qgraph.errors import LintError, OptionError, PassError, PassOrderError, QGraphError
from qgraph.options import Option
from qgraph.plugin_manager import plugin_manager

if TYPE_CHECKING:
    from qgraph.ir import Graph
    from qgraph.targets import Target

PHASES = ("import", "optimize", "compress", "quantize", "legalize", "serialize")


class Pass:
    """One graph rewrite. Subclasses set `name`, `phase` and implement `run`."""

    name: str = ""
    phase: str = "optimize"
    after: Sequence[str] = ()
    before: Sequence[str] = ()
    #: quantize modes the pass runs for (None: every mode); `enabled` may refine further.
    modes: Sequence[str] | None = None
    #: names of the targets the pass serves (None: every target).
    targets: Sequence[str] | None = None
    #: the options the pass reads (`ctx.option(name)`); `compile` accepts them when it runs.
    options: Sequence[Option] = ()

    def enabled(self, ctx: PassContext) -> bool:
        """Whether the pass runs for this compile (target, quantize mode, options)."""
        if self.modes is not None and ctx.quantize not in self.modes:
            return False
        return self.targets is None or (ctx.target is not None and ctx.target.name in self.targets)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        """Rewrite `graph` in place; return True if it changed anything."""
        raise NotImplementedError

    @property
    def doc(self) -> str:
        import sys

        text = (sys.modules[type(self).__module__].__doc__ or type(self).__doc__ or "").strip()
        return text.splitlines()[0] if text else ""

    def __repr__(self) -> str:
        return f"<Pass {self.name} ({self.phase})>"


class FunctionPass(Pass):
    """Wraps `fn(graph, ctx) -> bool` into a Pass: `FunctionPass(fn, phase="optimize")`."""

    def __init__(
        self,
        fn: Callable[[Graph, PassContext], bool],
        phase: str = "optimize",
        name: str | None = None,
        after: Sequence[str] = (),
        before: Sequence[str] = (),
        *,
        modes: Sequence[str] | None = None,
        targets: Sequence[str] | None = None,
        options: Sequence[Option] = (),
    ) -> None:
        self.fn, self.name, self.phase = fn, name or fn.__name__, phase
        self.after, self.before = tuple(after), tuple(before)
        self.modes = tuple(modes) if modes is not None else None
        self.targets = tuple(targets) if targets is not None else None
        self.options = tuple(options)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        return bool(self.fn(graph, ctx))


@dataclass
class PassRecord:
    name: str
    phase: str
    source: str
    ran: bool = False
    changed: bool = False
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)


@dataclass
class PassContext:
    """What a pass may read (target, options) and where it writes (`log`)."""

    target: Target | None = None
    quantize: str = "float"
    options: dict[str, Any] = field(default_factory=dict)
    records: list[PassRecord] = field(default_factory=list)
    #: option name -> its declaration, from the passes a PassManager runs and the target.
    declared: dict[str, Option] = field(default_factory=dict)
    #: the options the caller set (before `run` fills in defaults): a pass may refuse one
    #: that would have no effect, where a default must pass silently.
    given: frozenset[str] | None = None

    def log(self, message: str) -> None:
        if self.records:
            self.records[-1].messages.append(message)

    def option(self, name: str) -> Any:
        """The value of option `name`: the caller's, else the target's configured value, else
        the declared default (also when a pass is run by hand, outside a PassManager)."""
        if self.options.get(name) is not None:
            return self.options[name]
        if self.target is not None and name in self.target.option_values:
            return self.target.option_values[name]
        declared = self.declared.get(name) or _declared_by_a_pass_class(name)
        if declared is None:
            raise OptionError(f"no pass or target declares option {name!r}: declare it in `options`")
        return declared.default


@dataclass
class PlannedPass:
    pass_: Pass
    source: str


class PassManager:
    """Orders and runs passes. `PassManager.from_plugins()` gathers them from the hook."""

    def __init__(
        self, planned: Sequence[PlannedPass], lint: bool | None = None, strict: bool = False
    ) -> None:
        """`strict`: an `after`/`before` name that is not among `planned` is an error (a typo)
        rather than a constraint with nothing to order against (a hand-picked subset)."""
        self.plan = _order(planned, strict)
        self.lint = lint if lint is not None else os.environ.get("QGRAPH_DEBUG") == "1"

    @classmethod
    def from_plugins(cls, lint: bool | None = None) -> PassManager:
        pm = plugin_manager()
        planned: list[PlannedPass] = []
        for impl in pm.hook.qgraph_passes.get_hookimpls():
            contributed = cast(list[Pass], impl.function() or [])
            for p in contributed:
                planned.append(PlannedPass(p, impl.plugin_name))
        return cls(planned, lint, strict=True)

    def declared_options(self) -> dict[str, list[tuple[Option, Pass]]]:
        """Option name -> (declaration, pass) for every pass in the plan, in run order."""
        found: dict[str, list[tuple[Option, Pass]]] = {}
        for item in self.plan:
            for o in item.pass_.options:
                found.setdefault(o.name, []).append((o, item.pass_))
        return found

    def option_declarations(self, target: Target | None) -> dict[str, Option]:
        """Option name -> the declaration `ctx.option` reads: the target's own, else the first
        pass in the plan that declares it."""
        declared = {o.name: o for o in target.options} if target is not None else {}
        for name, found in self.declared_options().items():
            declared.setdefault(name, found[0][0])
        return declared

    def enabled(self, ctx: PassContext, phases: Sequence[str] = PHASES) -> list[Pass]:
        """The passes `run` would run for `ctx`, in order."""
        return [i.pass_ for i in self.plan if i.pass_.phase in phases and i.pass_.enabled(ctx)]

    def run(
        self,
        graph: Graph,
        ctx: PassContext,
        phases: Sequence[str] = PHASES,
        stop_after: str | None = None,
    ) -> list[PassRecord]:
        """Run the enabled passes of `phases` in plan order; `stop_after` names the pass after
        which to stop (whether or not it is enabled: the graph is then as that point of the
        pipeline leaves it), e.g. to look at the graph mid-way (`qgraph view --after`)."""
        plan = self.plan
        if stop_after is not None:
            names = [item.pass_.name for item in plan]
            if stop_after not in names:  # checked before any pass runs: the graph stays as it was
                raise OptionError(
                    f"stop_after={stop_after!r} names no pass; the passes in run order: {', '.join(names)}"
                )
            plan = plan[: names.index(stop_after) + 1]
        for name, option in self.option_declarations(ctx.target).items():
            ctx.declared.setdefault(name, option)
        if ctx.given is None:
            ctx.given = frozenset(n for n, v in ctx.options.items() if v is not None)
        for name in self.declared_options():
            # `ctx.options[name]` works as well as `ctx.option(name)` for a declared option.
            if ctx.options.get(name) is None:
                ctx.options[name] = ctx.option(name)
        done: list[str] = []
        for item in plan:
            p = item.pass_
            record = PassRecord(p.name, p.phase, item.source)
            if p.phase not in phases or not p.enabled(ctx):
                continue
            ctx.records.append(record)
            start = time.perf_counter()
            try:
                record.changed = bool(p.run(graph, ctx))
                if self.lint:
                    graph.lint()
            except LintError as e:
                raise PassError(
                    f"pass {p.name!r} (from {item.source}) left an invalid graph; "
                    f"passes before it: {done}\n{e}"
                ) from e
            except QGraphError:
                raise  # already names what is at fault
            except Exception as e:
                raise PassError(
                    f"pass {p.name!r} (phase {p.phase}, from {item.source}) failed: "
                    f"{type(e).__name__}: {e}; passes before it: {done}"
                ) from e
            record.ran, record.seconds = True, time.perf_counter() - start
            done.append(p.name)
        return ctx.records


def _declared_by_a_pass_class(name: str) -> Option | None:
    """The declaration of `name` on any imported Pass subclass (a pass run by hand)."""
    stack = list(Pass.__subclasses__())
    while stack:
        cls = stack.pop(0)
        for o in getattr(cls, "options", ()):
            if isinstance(o, Option) and o.name == name:
                return o
        stack += cls.__subclasses__()
    return None


def _order(planned: Sequence[PlannedPass], strict: bool) -> list[PlannedPass]:
    by_name: dict[str, PlannedPass] = {}
    for item in planned:
        p = item.pass_
        if not p.name or p.phase not in PHASES:
            raise PassOrderError(f"pass {p!r} from {item.source} needs a name and a phase in {PHASES}")
        if p.name in by_name:
            raise PassOrderError(
                f"two passes are named {p.name!r}: from {by_name[p.name].source} and {item.source}"
            )
        by_name[p.name] = item
    dag = nx.DiGraph()
    index = {name: i for i, name in enumerate(by_name)}
    dag.add_nodes_from(by_name)
    for name, item in by_name.items():
        p = item.pass_
        for other, edge in [(o, (o, name)) for o in p.after] + [(o, (name, o)) for o in p.before]:
            if other not in by_name:
                if not strict:
                    continue
                raise PassOrderError(
                    f"pass {name!r} (from {item.source}) names unknown pass {other!r} in after/before"
                )
            first, second = by_name[edge[0]].pass_, by_name[edge[1]].pass_
            if PHASES.index(first.phase) > PHASES.index(second.phase):
                raise PassOrderError(
                    f"pass {first.name!r} (phase {first.phase}) cannot run before "
                    f"{second.name!r} (phase {second.phase})"
                )
            dag.add_edge(*edge)
    # Edges never point back a phase, so the smallest (phase, registration index) among the
    # ready passes always belongs to the earliest unfinished phase: phases stay a hard order.
    key = lambda n: (PHASES.index(by_name[n].pass_.phase), index[n])  # noqa: E731
    try:
        return [by_name[n] for n in nx.lexicographical_topological_sort(dag, key=key)]
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(dag)
        raise PassOrderError(
            "after/before constraints form a cycle: " + " -> ".join(u for u, _ in cycle)
        ) from None
