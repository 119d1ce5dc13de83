"""Quantization arithmetic, following shared/specs/tflite-format.md (the int8 rules).

real = (q - zero_point) * scale
"""

from __future__ import annotations

import numpy as np

from qgraph.ir import QRANGE, QuantParams
from qgraph.ops import op_def


def activation_params(lo: float, hi: float, dtype: str = "int8") -> QuantParams:
    """Affine per-tensor parameters for the float range [lo, hi], nudged as FakeQuant does
    so that real 0 is exactly representable (the range is first widened to contain 0)."""
    qmin, qmax = QRANGE[dtype]
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:  # a constant-zero tensor: any scale represents it exactly
        return QuantParams(
            _arr(1.0), _arr(0 if qmin < 0 <= qmax else qmin), min=_arr(lo), max=_arr(hi), dtype=dtype
        )
    scale = np.float32((hi - lo) / (qmax - qmin))
    zero_point = int(np.clip(round_half_away(qmin - lo / float(scale)), qmin, qmax))
    return QuantParams(_arr(scale), _arr(zero_point), min=_arr(lo), max=_arr(hi), dtype=dtype)


def round_half_away(x):
    """Round half away from zero, as std::round in TF's FakeQuant nudging (numpy rounds half to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def fixed_output_params(op_type: str, dtype: str = "int8") -> QuantParams:
    """The output parameters an op's int8 kernel fixes (`OpDef.fixed_output`)."""
    fixed = op_def(op_type).fixed_output
    if fixed is None:
        raise ValueError(f"{op_type} has no fixed output range")
    scale, zp = fixed
    if dtype == "uint8":
        zp += 128
    return QuantParams(_arr(scale), _arr(zp), dtype=dtype)


def weight_params(w: np.ndarray, axis: int | None, bits: int = 8) -> QuantParams:
    """Symmetric, narrow-range parameters (int8 in [-127, 127]), per slice along `axis` or
    per tensor; an all-zero slice gets scale 1 (any scale is exact for it)."""
    qmax = 2 ** (bits - 1) - 1
    reduce_axes = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
    amax = np.abs(w).max(axis=reduce_axes) if w.size else np.zeros(1)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    return QuantParams(
        np.atleast_1d(scale),
        np.zeros(np.size(scale), np.int64),
        axis=axis,
        min=-np.atleast_1d(amax),
        max=np.atleast_1d(amax),
    )


def widen_for_bias(weight_q: QuantParams, bias: np.ndarray, input_scale: float) -> bool:
    """Widen weight scales where the int32 bias would not fit, as TFLiteConverter does: a
    channel whose weights folded to almost nothing (a pruned BN channel) still carries its
    bias. The bias is kept within 2^30, so the int32 accumulator (bias + sum of int8
    products, < 2^28 for a 3x3x1024 kernel) cannot overflow. Returns whether anything changed."""
    need = np.abs(bias.astype(np.float64)) / (float(input_scale) * 2**30)
    if weight_q.axis is None:
        need = np.atleast_1d(need.max()) if need.size else np.zeros(1)
    if not np.any(weight_q.scale < need):
        return False
    weight_q.scale = np.maximum(weight_q.scale, need).astype(np.float32)
    return True


def quantize(x: np.ndarray, q: QuantParams, dtype: str = "int8", narrow: bool = False) -> np.ndarray:
    """Round `x` to integers with `q` (per-axis when `q.axis` is set)."""
    qmin, qmax = QRANGE.get(dtype, QRANGE["int32"])
    if narrow:
        qmin = -qmax
    scale, zp = q.scale.astype(np.float64), q.zero_point
    if q.axis is not None:
        shape = [1] * x.ndim
        shape[q.axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return np.clip(np.round(x / scale) + zp, qmin, qmax).astype(dtype)


def dequantize(q_values: np.ndarray, q: QuantParams) -> np.ndarray:
    scale, zp = q.scale, q.zero_point
    if q.axis is not None:
        shape = [1] * q_values.ndim
        shape[q.axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q_values.astype(np.float64) - zp) * scale).astype(np.float32)


def bias_params(input_q: QuantParams, weight_q: QuantParams) -> QuantParams:
    """int32 bias parameters: scale = input_scale * weight_scale, computed in float32 as the
    kernels compare it, zero point 0, on the weights' axis."""
    scale = (np.float32(input_q.scale[0]) * weight_q.scale.astype(np.float32)).astype(np.float32)
    return QuantParams(
        scale, np.zeros(scale.size, np.int64), axis=0 if weight_q.axis is not None else None, dtype="int32"
    )


def _arr(x: float | np.floating) -> np.ndarray:
    return np.atleast_1d(np.asarray(x))


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB of `approx` against `reference`."""
    ref = np.asarray(reference, np.float64)
    noise = ref - np.asarray(approx, np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-30)))
