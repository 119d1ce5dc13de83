"""Helpers the built-in ops share to write and read TFLite builtin options.

`decode_options` is the default decoder: it maps the option fields qgraph uses (fused
activation, padding, strides, ...) to attrs by name, so most ops need no decoder of their own.
"""

from __future__ import annotations

from typing import Any

from qgraph.emit.schema import S

ACT = {
    "NONE": S.ActivationFunctionType.NONE,
    "RELU": S.ActivationFunctionType.RELU,
    "RELU6": S.ActivationFunctionType.RELU6,
    "RELU_N1_TO_1": S.ActivationFunctionType.RELU_N1_TO_1,
}
PAD = {"SAME": S.Padding.SAME, "VALID": S.Padding.VALID}
_ACT_NAMES = {v: k for k, v in vars(S.ActivationFunctionType).items() if not k.startswith("_")}
_PAD_NAMES = {v: k for k, v in vars(S.Padding).items() if not k.startswith("_")}

#: schema field -> attr name, for the fields that carry over as they are.
_SIMPLE_FIELDS = {
    "depthMultiplier": "depth_multiplier",
    "keepNumDims": "keep_num_dims",
    "axis": "axis",
    "keepDims": "keep_dims",
    "beta": "beta",
    "alpha": "alpha",
    "alignCorners": "align_corners",
    "halfPixelCenters": "half_pixel_centers",
}


def options(cls: type, **fields: Any) -> Any:
    """An options object of the schema's class `cls` with `fields` set."""
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def fused(op: Any) -> int:
    """The schema's code for `op`'s fused activation."""
    return ACT[op.attrs.get("fused", "NONE")]


def window_fields(op: Any) -> dict[str, Any]:
    """Padding, strides and fused activation: the fields conv, depthwise and pool options share."""
    sh, sw = op.attrs["stride"]
    return {
        "padding": PAD[op.attrs["padding"]],
        "strideH": sh,
        "strideW": sw,
        "fusedActivationFunction": fused(op),
    }


def decode_options(o: Any) -> dict:
    """Builtin options -> qgraph attrs, by field name (the inverse of the built-in encoders)."""
    if o is None:
        return {}
    a: dict = {}
    if hasattr(o, "fusedActivationFunction"):
        a["fused"] = _ACT_NAMES.get(o.fusedActivationFunction, str(o.fusedActivationFunction))
    if hasattr(o, "padding"):
        a["padding"] = _PAD_NAMES[o.padding]
    if hasattr(o, "strideH"):
        a["stride"] = (o.strideH, o.strideW)
    if hasattr(o, "dilationHFactor"):
        a["dilation"] = (o.dilationHFactor, o.dilationWFactor)
    if hasattr(o, "filterHeight"):
        a["filter"] = (o.filterHeight, o.filterWidth)
    for src, dst in _SIMPLE_FIELDS.items():
        if hasattr(o, src):
            a[dst] = getattr(o, src)
    if getattr(o, "asymmetricQuantizeInputs", False):
        a["asymmetric_quantize_inputs"] = True
    return a
