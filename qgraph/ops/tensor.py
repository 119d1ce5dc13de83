"""Ops that move, pool, reduce or resize values: CONCATENATION, pools, MEAN, REDUCE_MAX,
RESHAPE, PAD, RESIZE_*. Their int8 kernels keep the input's scale (or share it, for
CONCATENATION), which is what the quantize passes read from `same_scale` / `shared_input_scale`."""

from __future__ import annotations

from qgraph.emit.schema import S
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.ops.kernels import apply_fused, keras_ops, padding
from qgraph.ops.opdef import REQUIRED, OpDef
from qgraph.ops.tflite_options import decode_options, fused, options, window_fields

_V2 = {2: "1.14.0"}


def _encode_concat(op, ctx):
    o = options(S.ConcatenationOptionsT, axis=op.attrs["axis"], fusedActivationFunction=fused(op))
    return OpEncoding("CONCATENATION", 1, "ConcatenationOptions", o)


def _pool(op_type: str, keras_name: str) -> OpDef:
    def encode(op, ctx):
        fh, fw = op.attrs["filter"]
        o = options(S.Pool2DOptionsT, **window_fields(op), filterHeight=fh, filterWidth=fw)
        return OpEncoding(op_type, 1, "Pool2DOptions", o)

    def kernel(ins, a):
        y = getattr(keras_ops(), keras_name)(ins[0], tuple(a["filter"]), tuple(a["stride"]), padding(a))
        return apply_fused(y, a.get("fused", "NONE"))

    return OpDef(
        op_type,
        f"2-D {keras_name.replace('_', ' ')}",
        attrs={"filter": REQUIRED, "stride": REQUIRED, "padding": REQUIRED, "fused": "NONE"},
        fuses_activation=True,
        same_scale=True,
        tflite_builtin=op_type,
        encode=encode,
        int8_version=2,
        min_runtime=_V2,
        kernel=kernel,
    )


def _reduce(op_type: str, keras_name: str, runtime: str, same_scale: bool, tf_op: str) -> OpDef:
    def encode(op, ctx):
        o = options(S.ReducerOptionsT, keepDims=bool(op.attrs["keep_dims"]))
        return OpEncoding(op_type, 1, "ReducerOptions", o)

    def kernel(ins, a):
        axes = tuple(int(v) for v in ins[1])
        return getattr(keras_ops(), keras_name)(ins[0], axis=axes, keepdims=a["keep_dims"])

    return OpDef(
        op_type,
        f"{keras_name} over the axes in input 1",
        attrs={"keep_dims": REQUIRED},
        same_scale=same_scale,
        tflite_builtin=op_type,
        encode=encode,
        int8_version=2,
        min_runtime={1: runtime, **_V2},
        kernel=kernel,
        tf_ops=(tf_op,),  # (x, axes) and TF's `keep_dims` attribute, same names
    )


def _encode_reshape(op, ctx):
    o = options(S.ReshapeOptionsT, newShape=list(op.attrs["new_shape"]))
    return OpEncoding("RESHAPE", 1, "ReshapeOptions", o)


def _decode_reshape(o) -> dict:
    attrs = decode_options(o)
    if o is not None and getattr(o, "newShape", None) is not None:
        attrs["new_shape"] = tuple(int(d) for d in o.newShape)
    return attrs


def _resize_nearest_kernel(ins, a):
    import keras

    ops = keras_ops()
    x, (oh, ow) = ins[0], (int(v) for v in ins[1])
    h, w = x.shape[1], x.shape[2]
    if a.get("align_corners") or a.get("half_pixel_centers") or oh % h or ow % w:
        return keras.ops.image.resize(x, (oh, ow), interpolation="nearest")
    # Integer factors without half-pixel centers: exactly a repeat (what UpSampling2D does).
    return ops.repeat(ops.repeat(x, oh // h, axis=1), ow // w, axis=2)


def _resize_bilinear_kernel(ins, a):
    import keras

    if a.get("align_corners") or not a.get("half_pixel_centers", False):
        raise ValueError("RESIZE_BILINEAR is emitted only with half_pixel_centers=True, align_corners=False")
    return keras.ops.image.resize(ins[0], tuple(int(v) for v in ins[1]), interpolation="bilinear")


def _resize(op_type: str, options_type: str, cls: type, kernel, runtimes: dict[int, str]) -> OpDef:
    def encode(op, ctx):
        half, align = bool(op.attrs.get("half_pixel_centers")), bool(op.attrs.get("align_corners"))
        o = options(cls, alignCorners=align, halfPixelCenters=half)
        return OpEncoding(op_type, 3 if half else 1, options_type, o)

    return OpDef(
        op_type,
        "resize to the (height, width) in input 1",
        attrs={"align_corners": False, "half_pixel_centers": False},
        same_scale=True,
        tflite_builtin=op_type,
        encode=encode,
        int8_version=2,
        min_runtime={**runtimes, **_V2},
        kernel=kernel,
    )


OPS = [
    OpDef(
        "CONCATENATION",
        "join inputs along `axis`; int8 inputs share the output's scale",
        attrs={"axis": REQUIRED, "fused": "NONE"},
        shared_input_scale=True,
        tflite_builtin="CONCATENATION",
        encode=_encode_concat,
        int8_version=2,
        min_runtime=_V2,
        kernel=lambda ins, a: apply_fused(
            keras_ops().concatenate(list(ins), axis=a["axis"]), a.get("fused", "NONE")
        ),
    ),
    _pool("MAX_POOL_2D", "max_pool"),
    _pool("AVERAGE_POOL_2D", "average_pool"),
    _reduce("MEAN", "mean", "1.6.0", same_scale=False, tf_op="Mean"),
    _reduce("REDUCE_MAX", "max", "1.11.0", same_scale=True, tf_op="Max"),
    _reduce("REDUCE_MIN", "min", "1.11.0", same_scale=True, tf_op="Min"),
    OpDef(
        "RESHAPE",
        "new shape from input 1 (the batch dimension kept dynamic)",
        attrs={"new_shape": REQUIRED},
        same_scale=True,
        tflite_builtin="RESHAPE",
        encode=_encode_reshape,
        decode=_decode_reshape,
        kernel=lambda ins, a: keras_ops().reshape(ins[0], (-1, *[int(d) for d in ins[1]][1:])),
        tf_ops=("Reshape",),  # new_shape: the folded shape input (frontend/tf_ops.py)
    ),
    OpDef(
        "PAD",
        "zero padding, (before, after) per axis from input 1",
        same_scale=True,
        tflite_builtin="PAD",
        encode=lambda op, ctx: OpEncoding("PAD", 1, "PadOptions", S.PadOptionsT()),
        int8_version=2,
        min_runtime=_V2,
        kernel=lambda ins, a: keras_ops().pad(ins[0], [[int(p) for p in row] for row in ins[1]]),
        tf_ops=("Pad",),
    ),
    _resize(
        "RESIZE_BILINEAR",
        "ResizeBilinearOptions",
        S.ResizeBilinearOptionsT,
        _resize_bilinear_kernel,
        {1: "1.7.0", 3: "2.2.0"},
    ),
    _resize(
        "RESIZE_NEAREST_NEIGHBOR",
        "ResizeNearestNeighborOptions",
        S.ResizeNearestNeighborOptionsT,
        _resize_nearest_kernel,
        {1: "1.13.1", 3: "2.3.0"},
    ),
]
