"""A layer qgraph has no lowering for -> the ops of its traced TensorFlow graph, op by op.

This is how TFLiteConverter sees every model: the layer's call is traced with `tf.function` on
its input shapes (batch None), and each graph op is mapped, in order, by the first rule that
applies:

1. an op whose inputs are all known at compile time (constants, variables, static shapes) is
   folded: TensorFlow runs it, eagerly, on those values (Shape -> StridedSlice -> Pack chains,
   `gamma * 2`, casts of constants);
2. a translator in `tf_ops.py` (Conv2D: HWIO -> OHWI; MatMul with a constant -> FULLY_CONNECTED;
   Reshape; ConcatV2; Identity and variable plumbing; ...);
3. an OpDef whose `tf_ops` names the TF op: same inputs in the same order, attributes that share
   a name with a TF attribute copied (LeakyRelu's alpha, Mean's keep_dims), others defaulted;
4. otherwise the named error (layer, class, TF op, and how to add it).

Values known at compile time are kept at two batch sizes (`Folded`), 1 and 2: where the two
differ, a value depends on the batch (a Tensordot's [batch * 64, 4] reshape) and becomes -1.
"""

from __future__ import annotations

from typing import Any, cast

from qgraph.frontend.lowering import LowerCtx
from qgraph.frontend.tf_ops import BATCHES, TRANSLATORS, Folded, fold, foldable
from qgraph.ir import Tensor
from qgraph.ops import REQUIRED, OpDef, op_defs

HOW_TO_ADD = (
    "To add it, implement the `qgraph_lower_layer(layer, inputs, graph)` hook in a plugin for this "
    "layer, or give an OpDef a `tf_ops` entry through the `qgraph_ops` hook (see docs/hooks.md)."
)


def tf_op_table() -> dict[str, OpDef]:
    """TF op name -> the OpDef that lowers it 1:1 (`OpDef.tf_ops`), from every registered OpDef."""
    return {name: d for d in op_defs().values() for name in d.tf_ops}


def lower_traced(ctx: LowerCtx, why: str) -> list[Tensor]:
    fn, specs, ir_inputs = _traceable(ctx, why)
    try:
        import tensorflow as tf

        graph = tf.function(fn, autograph=False).get_concrete_function(*specs).graph
    except Exception as e:  # noqa: BLE001 (any tracing failure is the user's layer; say so)
        raise ctx.fail(
            f"{why}, and tracing its call with tf.function on input shapes "
            f"{[tuple(s.shape) for s in specs]} failed ({type(e).__name__}: {e}). {HOW_TO_ADD}"
        ) from e
    return Walk(ctx, why, graph, ir_inputs).run()


def _traceable(ctx: LowerCtx, why: str):
    """(fn(*placeholders), TensorSpecs, IR tensors): the call with every IR tensor argument a placeholder."""
    import inspect

    import tensorflow as tf

    args, kwargs = ctx.args, dict(ctx.kwargs)
    if not args and not kwargs:  # a node that recorded no arguments: its inputs are the call
        args = (ctx.inputs[0] if len(ctx.inputs) == 1 else list(ctx.inputs),)
    call = getattr(ctx.layer, "call", None)
    params = inspect.signature(call).parameters if callable(call) else {}
    if "training" in params and kwargs.get("training") is None:
        kwargs["training"] = False  # inference: Dropout off, BatchNorm on its moving statistics
    elif kwargs.get("training"):
        raise ctx.fail(f"{why}, and it is called with training=True; qgraph lowers inference only")
    structure = (list(args), kwargs)
    flat = tf.nest.flatten(structure)
    ir_inputs = [v for v in flat if isinstance(v, Tensor)]
    specs = []
    for t in ir_inputs:
        if any(d < 0 for d in t.shape[1:]):
            raise ctx.fail(
                f"{why}, and its input {t.name!r} has shape {t.shape}: tracing it needs a static shape "
                f"after the batch dimension. {HOW_TO_ADD}"
            )
        batch = [None if d < 0 else d for d in t.shape[:1]]  # a fixed batch stays fixed
        specs.append(tf.TensorSpec((*batch, *t.shape[1:]), tf.as_dtype(t.dtype)))

    def fn(*placeholders):
        it = iter(placeholders)
        values = [next(it) if isinstance(v, Tensor) else v for v in flat]
        a, kw = tf.nest.pack_sequence_as(structure, values)
        return ctx.layer(*a, **kw)

    return fn, specs, ir_inputs


class Walk:
    """One traced graph being lowered: TF tensor name -> its value (an IR tensor or `Folded`)."""

    def __init__(self, ctx: LowerCtx, why: str, graph: Any, ir_inputs: list[Tensor]) -> None:
        self.ctx, self.why, self.graph = ctx, why, graph
        self.table = tf_op_table()
        self.values: dict[str, Tensor | Folded] = {}
        #: IR tensor name -> its concrete shapes at the two batch sizes (what Shape folds to).
        self.dims: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._consts: dict[str, Tensor] = {}
        self.emitted: list[str] = []
        for ph, t in zip(graph.inputs, ir_inputs, strict=False):
            self.values[ph.name] = t
            one, two = (tuple(b if d < 0 else d for d in t.shape) for b in BATCHES)
            self.dims[t.name] = (one, two)
        variables = {id(v.handle): v for v in graph.variables}
        for external, internal in graph.captures:
            held = variables.get(id(external))
            self.values[internal.name] = Folded.of((held if held is not None else external).numpy())
        # ops whose output the layer returns are named after the layer, as other lowerings do
        ends = [self._through_identities(t).op.name for t in graph.outputs]
        self.final = {name: "" if i == 0 else f"output_{i}" for i, name in reversed(list(enumerate(ends)))}

    def run(self) -> list[Tensor]:
        for op in self.graph.get_operations():
            if op.type == "Placeholder":
                continue  # an input or a captured variable, bound above
            self._lower(op)
        outs: list[Tensor] = []
        for t in self.graph.outputs:
            v = self.ir(t)
            # a layer output must be a tensor of its own: not a constant, an input or another output
            if v.is_constant or any(v is u for u in (*self.ctx.inputs, *outs)):
                v = self.ctx.emit("IDENTITY", [v], v.shape, f"identity_{len(outs)}" if outs else "")
            outs.append(v)
        self._drop_dead(outs)
        return outs

    def _drop_dead(self, outs: list[Tensor]) -> None:
        """Remove the ops this walk emitted that nothing reads (a translator bypassed them)."""
        g, keep = self.ctx.graph, {t.name for t in outs}
        for name in reversed(self.emitted):
            out = g.outputs_of(name)[0]
            if out.name not in keep and not g.consumers(out):
                g.remove_op(g.op(name))

    def _through_identities(self, t: Any) -> Any:
        while t.op.type in ("Identity", "IdentityN", "StopGradient") and t.op.inputs:
            t = t.op.inputs[t.value_index if t.op.type == "IdentityN" else 0]
        return t

    def _lower(self, op: Any) -> None:
        missing = [t.name for t in op.inputs if t.name not in self.values]
        if missing:
            raise self.ctx.fail(f"TF op {op.name!r} reads {missing}, which no lowered op produced")
        ins = [self.values[t.name] for t in op.inputs]
        result: Any = None
        if ins and all(isinstance(v, Folded) for v in ins) and foldable(op):
            try:
                result = fold(op, cast("list[Folded]", ins))
            except Exception as e:  # noqa: BLE001 (an op TF cannot run eagerly is one qgraph cannot fold)
                raise self.unmapped(op, f" on constants (folding failed: {e})") from e
        elif op.type in TRANSLATORS:
            result = TRANSLATORS[op.type](self, op)
        if result is None and op.type in self.table:
            result = self._one_to_one(op, self.table[op.type])
        if result is None:
            raise self.unmapped(op)
        for out, v in zip(op.outputs, result if isinstance(result, list) else [result], strict=False):
            self.values[out.name] = v

    def unmapped(self, op: Any, detail: str = "") -> Exception:
        known = sorted({*TRANSLATORS, *self.table} - {"Placeholder"})
        return self.ctx.fail(
            f"{self.why}, so it is lowered from its traced TensorFlow graph, but TF op {op.type!r} "
            f"(node {op.name!r}){detail} has no qgraph mapping. Supported TF ops: {', '.join(known)} "
            f"(and any op on compile-time constants). {HOW_TO_ADD}"
        )

    def _one_to_one(self, op: Any, d: OpDef) -> Tensor:
        """`d` on the same inputs; each attribute from the TF attribute of its name, or its default."""
        attrs = {name: self.attr(op, name) for name in d.attrs}
        for name, default in d.attrs.items():
            if attrs[name] is None and default is REQUIRED:
                raise self.unmapped(op, f" (OpDef {d.type} needs attribute {name!r}, which the TF op lacks)")
            attrs[name] = default if attrs[name] is None else attrs[name]
        return self.emit(d.type, [self.ir(t) for t in op.inputs], op, **attrs)

    # ---- what translators use --------------------------------------------------------------
    def attr(self, op: Any, name: str) -> Any:
        if name not in op.node_def.attr:
            return None
        v = op.get_attr(name)
        return v.decode() if isinstance(v, bytes) else v

    def value(self, t: Any) -> Tensor | Folded:
        return self.values[t.name]

    def folded(self, t: Any, what: str) -> Any:
        v = self.values[t.name]
        if not isinstance(v, Folded) or not v.static:
            raise self.unmapped(t.op, f" with a {what} that is not a compile-time constant")
        return v.at1

    def ir(self, t: Any) -> Tensor:
        """The IR tensor of TF tensor `t`; a compile-time value becomes a constant (once)."""
        v = self.values[t.name]
        if isinstance(v, Tensor):
            return v
        if t.name not in self._consts:
            data = self.folded(t, "batch-dependent value")
            kind = data.dtype.kind
            dtype = "float32" if kind == "f" else "bool" if kind == "b" else "int32"
            self._consts[t.name] = self.ctx.const(_suffix(t.name.split(":")[0]), data, dtype)
        return self._consts[t.name]

    def const(self, suffix: str, data: Any, dtype: str = "float32") -> Tensor:
        return self.ctx.const(suffix, data, dtype)

    def out_dims(self, t: Any, like: Tensor | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """`t`'s concrete shapes at the two batch sizes: its static shape, a None dimension taken
        from `like` (the op's first runtime input) when ranks match, else the batch."""
        if t.shape.rank is None:
            raise self.unmapped(t.op, " with an output of unknown rank")
        ref = self.dims.get(like.name) if like is not None else None
        pair: list[list[int]] = [[], []]
        for i, d in enumerate(t.shape.as_list()):
            for k, b in enumerate(BATCHES):
                pair[k].append(
                    d if d is not None else ref[k][i] if ref and len(ref[k]) == t.shape.rank else b
                )
        return tuple(pair[0]), tuple(pair[1])

    def emit(self, op_type: str, inputs: list[Tensor], op: Any, dims=None, **attrs: Any) -> Tensor:
        """Add an IR op for TF op `op`; its output's shape comes from `dims` (or `op`'s output)."""
        like = next((t for t in inputs if not t.is_constant), None)
        d1, d2 = dims or self.out_dims(op.outputs[0], like)
        shape = tuple(a if a == b else -1 for a, b in zip(d1, d2, strict=True))
        suffix = self.final.get(op.name, _suffix(op.name))
        out = self.ctx.emit(op_type, inputs, shape, suffix, **attrs)
        producer = self.ctx.graph.producer(out)
        assert producer is not None
        self.emitted.append(producer.name)
        out.shape = shape  # emit() reads a scalar's () as "the layer's shape"
        dtype = op.outputs[0].dtype.name
        out.dtype = dtype if dtype in ("int32", "int64", "bool", "int8", "uint8") else "float32"
        self.dims[out.name] = (tuple(d1), tuple(d2))
        return out


def _suffix(tf_name: str) -> str:
    """A TF node name without the layer's own name scope ("scale_shift_1/mul" -> "mul")."""
    return tf_name.split("/", 1)[1] if "/" in tf_name else tf_name
