"""Folding of compile-time values, and translators of the TF ops that do not lower 1:1 to an
OpDef (`OpDef.tf_ops`): layouts to change (Conv2D's HWIO filter -> OHWI), attributes to read
(strides, axes, perm), plumbing to see through (Identity, ReadVariableOp) and static shapes to
fold (Shape, Reshape's target).

`translator(walk, op)` returns the value of each of `op`'s outputs (one value, or a list), or
None to let the OpDef whose `tf_ops` names the op lower it (`Transpose` of a non-identity perm,
a `RealDiv` by a runtime tensor). See `tf_graph.py` for the order the rules apply in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qgraph.frontend.tf_graph import Walk

#: the two batch sizes compile-time values are computed at.
BATCHES = (1, 2)
TRANSLATORS: dict[str, Callable[[Walk, Any], Any]] = {}


@dataclass(frozen=True)
class Folded:
    """A value known at compile time, at batch 1 and at batch 2 (-1 where they differ)."""

    at1: np.ndarray
    at2: np.ndarray

    @staticmethod
    def of(value: Any) -> Folded:
        arr = np.asarray(value)
        return Folded(arr, arr)

    @property
    def static(self) -> bool:
        return self.at1.shape == self.at2.shape and bool(np.array_equal(self.at1, self.at2))


def foldable(op: Any) -> bool:
    dtypes = [t.dtype for t in (*op.inputs, *op.outputs)]
    return not op.op_def.is_stateful and op.type != "Const" and all(d.is_numpy_compatible for d in dtypes)


def fold(op: Any, ins: list[Folded]) -> list[Folded]:
    """Run `op` eagerly on compile-time inputs, at both batch sizes when they differ."""
    import tensorflow as tf
    from tensorflow.python.eager import context, execute

    attrs: list[Any] = []
    for a in op.op_def.attr:  # execute() takes attrs flat, types as enums, shapes as lists
        v = op.get_attr(a.name)
        if isinstance(v, tf.DType) or isinstance(v, list) and v and isinstance(v[0], tf.DType):
            v = [d.as_datatype_enum for d in v] if isinstance(v, list) else v.as_datatype_enum
        elif isinstance(v, tf.TensorShape):
            v = v.as_list() if v.rank is not None else None
        attrs += [a.name, v]

    def run(vals: list[np.ndarray]) -> list[np.ndarray]:
        tensors = [tf.constant(x, dtype=t.dtype) for x, t in zip(vals, op.inputs, strict=True)]
        outs = execute.execute(op.type, len(op.outputs), tensors, tuple(attrs), context.context())
        return [o.numpy() for o in outs]

    at1 = run([v.at1 for v in ins])
    at2 = at1 if all(v.static for v in ins) else run([v.at2 for v in ins])
    return [Folded(a, b) for a, b in zip(at1, at2, strict=True)]


def _name(op: Any, what: str) -> str:
    """A constant's name: the TF node's, without the layer's name scope, then `what`."""
    return f"{op.name.split('/', 1)[-1]}/{what}"


def translates(*tf_names: str):
    def register(fn):
        for name in tf_names:
            TRANSLATORS[name] = fn
        return fn

    return register


# ---- plumbing -------------------------------------------------------------------------------
@translates("Identity", "IdentityN", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape")
@translates("ReadVariableOp", "NoOp")  # a captured variable is already its value; NoOp has none
def _alias(w: Walk, op):
    return [w.value(t) for t in op.inputs]


@translates("Const")
def _const(w: Walk, op):
    import tensorflow as tf

    return Folded.of(tf.make_ndarray(op.get_attr("value")))


@translates("Cast")
def _cast(w: Walk, op):
    if op.get_attr("SrcT") == op.get_attr("DstT"):  # keras casts to the compute dtype it already has
        return w.value(op.inputs[0])
    raise w.unmapped(op, f" from {op.get_attr('SrcT').name} to {op.get_attr('DstT').name} at run time")


# ---- static shapes --------------------------------------------------------------------------
@translates("Shape", "Size", "Rank")
def _shape(w: Walk, op):
    dims = w.dims[w.ir(op.inputs[0]).name]
    dtype = op.outputs[0].dtype.as_numpy_dtype
    fn: Any = {"Shape": np.array, "Size": np.prod, "Rank": len}[op.type]
    return Folded(np.asarray(fn(dims[0]), dtype), np.asarray(fn(dims[1]), dtype))


def _resolve(target: np.ndarray, size: int) -> tuple[int, ...]:
    """A reshape target with its -1 (if any) replaced by what the element count implies."""
    dims = [int(d) for d in target]
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1]))
        dims[dims.index(-1)] = size // known if known else 0
    return tuple(dims)


def _reshape(w: Walk, op, x, dims):
    """RESHAPE `x` to `dims` (its shapes at the two batch sizes): -1 where they differ."""
    new_shape = [a if a == b else -1 for a, b in zip(*dims, strict=True)]
    if new_shape.count(-1) > 1:
        raise w.unmapped(op, f" reshaping to {dims[0]} at batch 1, {dims[1]} at batch 2 (two dynamic dims)")
    shape_t = w.const(_name(op, "shape"), new_shape, "int32")
    return w.emit("RESHAPE", [x, shape_t], op, dims=dims, new_shape=tuple(new_shape))


@translates("Reshape")
def _reshape_op(w: Walk, op):
    x, target = w.ir(op.inputs[0]), w.value(op.inputs[1])
    if not isinstance(target, Folded):
        raise w.unmapped(op, " with a target shape computed at run time")
    sizes = [int(np.prod(d)) for d in w.dims[x.name]]
    dims = (_resolve(target.at1, sizes[0]), _resolve(target.at2, sizes[1]))
    return x if dims == w.dims[x.name] else _reshape(w, op, x, dims)


@translates("Squeeze", "ExpandDims")
def _squeeze_expand(w: Walk, op):
    x = w.ir(op.inputs[0])
    static = op.inputs[0].shape.as_list()
    if op.type == "Squeeze":  # squeeze what is 1 in the static shape, never the batch
        axes = op.get_attr("squeeze_dims") or [i for i, d in enumerate(static) if d == 1]
        axes = {a % len(static) for a in axes}
        dims = tuple(tuple(d for i, d in enumerate(s) if i not in axes) for s in w.dims[x.name])
    else:
        axis = int(w.folded(op.inputs[1], "axis"))
        axis = axis % (len(static) + 1)
        dims = tuple((*s[:axis], 1, *s[axis:]) for s in w.dims[x.name])
    return _reshape(w, op, x, dims)


@translates("Transpose")
def _transpose(w: Walk, op):
    perm = [int(p) for p in w.folded(op.inputs[1], "perm")]
    return w.value(op.inputs[0]) if perm == sorted(perm) else None  # Tensordot's no-op transposes


# ---- compute --------------------------------------------------------------------------------
def _nhwc(w: Walk, op) -> None:
    fmt = w.attr(op, "data_format")
    if fmt not in (None, "NHWC"):
        raise w.unmapped(op, f" with data_format={fmt!r} (TFLite is NHWC)")


def _window(w: Walk, op, *extra: str) -> dict[str, Any]:
    _nhwc(w, op)
    padding = w.attr(op, "padding")
    if padding not in ("SAME", "VALID"):
        raise w.unmapped(op, f" with padding={padding!r}")
    out = {"padding": padding, "stride": tuple(op.get_attr("strides")[1:3])}
    for name in extra:
        key = {"dilations": "dilation", "ksize": "filter"}[name]
        out[key] = tuple(op.get_attr(name)[1:3])
    return out


@translates("Conv2D", "DepthwiseConv2dNative")
def _conv(w: Walk, op):
    filt = w.folded(op.inputs[1], "filter").astype(np.float32)  # H W I O, or H W C M
    h, wd, c, m = filt.shape
    if op.type == "Conv2D":
        kind, filt, extra = "CONV_2D", filt.transpose(3, 0, 1, 2), {}  # OHWI
    else:
        kind, filt, extra = "DEPTHWISE_CONV_2D", filt.reshape(1, h, wd, c * m), {"depth_multiplier": m}
    filt, bias = np.ascontiguousarray(filt), np.zeros(filt.shape[0] if op.type == "Conv2D" else c * m)
    ins = [w.ir(op.inputs[0]), w.const(_name(op, "filter"), filt), w.const(_name(op, "bias"), bias)]
    return w.emit(kind, ins, op, fused="NONE", **extra, **_window(w, op, "dilations"))


@translates("AvgPool", "MaxPool")
def _pool(w: Walk, op):
    kind = "AVERAGE_POOL_2D" if op.type == "AvgPool" else "MAX_POOL_2D"
    return w.emit(kind, [w.ir(op.inputs[0])], op, fused="NONE", **_window(w, op, "ksize"))


@translates("MatMul")
def _matmul(w: Walk, op):
    a, b = w.value(op.inputs[0]), w.value(op.inputs[1])
    if isinstance(a, Folded) or not isinstance(b, Folded) or op.get_attr("transpose_a"):
        return None  # runtime x runtime: a BATCH_MATMUL whose tf_ops lists MatMul, if any
    weights = w.folded(op.inputs[1], "weight").astype(np.float32)
    weights = np.ascontiguousarray(weights if op.get_attr("transpose_b") else weights.T)  # (out, in)
    consts = [w.const(_name(op, "weights"), weights), w.const(_name(op, "bias"), np.zeros(len(weights)))]
    flat = w.ctx.graph.producer(a)
    source = w.ctx.graph.inputs_of(flat)[0] if flat is not None and flat.type == "RESHAPE" else None
    src_dims = w.dims.get(source.name) if source is not None else None
    if src_dims and w.dims[a.name] == tuple((int(np.prod(d[:-1])), d[-1]) for d in src_dims):
        # Tensordot: RESHAPE to (rows, in) -> MatMul -> RESHAPE back is one FULLY_CONNECTED that
        # keeps the leading dims (and a MUL before it can fold into its weights); the dead
        # RESHAPE is dropped at the end of the walk, the one back becomes a no-op.
        dims = tuple((*d[:-1], len(weights)) for d in src_dims)
        assert source is not None  # src_dims was read from it
        return w.emit("FULLY_CONNECTED", [source, *consts], op, dims=dims, fused="NONE", keep_num_dims=True)
    return w.emit("FULLY_CONNECTED", [a, *consts], op, fused="NONE", keep_num_dims=False)


@translates("BiasAdd", "BiasAddV1")
def _bias_add(w: Walk, op):
    _nhwc(w, op)  # fold_constant_scale folds the ADD into a CONV_2D / FULLY_CONNECTED bias
    return w.emit("ADD", [w.ir(op.inputs[0]), w.ir(op.inputs[1])], op, fused="NONE")


@translates("AddN")
def _add_n(w: Walk, op):
    acc = w.ir(op.inputs[0])
    for t in op.inputs[1:]:
        acc = w.emit("ADD", [acc, w.ir(t)], op, fused="NONE")
    return acc


@translates("ConcatV2")
def _concat(w: Walk, op):
    rank = op.outputs[0].shape.rank
    axis = int(w.folded(op.inputs[-1], "axis")) % rank
    return w.emit("CONCATENATION", [w.ir(t) for t in op.inputs[:-1]], op, axis=axis, fused="NONE")


@translates("RealDiv", "Div")
def _divide(w: Walk, op):
    """x / c -> MUL(x, 1 / c), as the converter folds it; x / y -> the OpDef listing the TF op."""
    divisor = w.value(op.inputs[1])
    if not isinstance(divisor, Folded) or not divisor.static or divisor.at1.dtype.kind != "f":
        return None
    if (divisor.at1 == 0).any():
        raise w.unmapped(op, " dividing by a constant that holds zeros")
    recip = w.const(_name(op, "reciprocal"), 1.0 / divisor.at1.astype(np.float32))
    return w.emit("MUL", [w.ir(op.inputs[0]), recip], op, fused="NONE")


@translates("Neg", "Square")
def _neg_square(w: Walk, op):
    if op.type in w.table:  # an OpDef (NEG, SQUARE) lowers it
        return None
    x = w.ir(op.inputs[0])
    other = x if op.type == "Square" else w.const(_name(op, "minus_one"), -1.0)
    return w.emit("MUL", [x, other], op, fused="NONE")


@translates("FusedBatchNorm", "FusedBatchNormV3")
def _fused_batch_norm(w: Walk, op):
    _nhwc(w, op)
    if op.get_attr("is_training"):
        raise w.unmapped(op, " in training mode (batch statistics)")
    return None  # BATCH_NORM: the same five inputs and epsilon
