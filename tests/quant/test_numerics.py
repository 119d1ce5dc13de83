"""Quantization arithmetic against hand-computed values (shared/specs/tflite-format.md)."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.ir import QuantParams
from qgraph.quant.numerics import (
    activation_params,
    bias_params,
    dequantize,
    fixed_output_params,
    quantize,
    sqnr_db,
    weight_params,
)


def test_relu6_range_uses_the_whole_int8_range():
    q = activation_params(0.0, 6.0)
    assert q.scale[0] == np.float32(6.0 / 255.0) and q.zero_point[0] == -128


def test_range_is_widened_to_contain_zero():
    q = activation_params(2.0, 5.0)
    assert q.scale[0] == np.float32(5.0 / 255.0) and q.zero_point[0] == -128
    q = activation_params(-4.0, -1.0)
    assert q.scale[0] == np.float32(4.0 / 255.0) and q.zero_point[0] == 127


def test_zero_point_is_nudged_and_zero_is_exact():
    q = activation_params(-1.0, 1.0)  # zero point from min: -128 + 127.5 = -0.5 -> rounds away from zero
    assert q.scale[0] == np.float32(2.0 / 255.0) and q.zero_point[0] == -1
    q = activation_params(-0.3, 2.7)  # -128 + 0.3 / (3/255) = -102.5 -> -103
    assert q.zero_point[0] == -103
    assert dequantize(np.array([q.zero_point[0]], np.int8), q)[0] == 0.0


def test_degenerate_range_gets_a_legal_scale():
    q = activation_params(0.0, 0.0)
    assert q.scale[0] == 1.0 and q.zero_point[0] == 0


def test_fixed_output_params():
    softmax = fixed_output_params("SOFTMAX")
    assert softmax.scale[0] == np.float32(1 / 256) and softmax.zero_point[0] == -128
    tanh = fixed_output_params("TANH")
    assert tanh.scale[0] == np.float32(1 / 128) and tanh.zero_point[0] == 0
    assert fixed_output_params("LOGISTIC", "uint8").zero_point[0] == 0


def test_per_axis_weight_scales_are_symmetric_and_narrow():
    w = np.array([[1.0, -2.0], [0.5, 0.25], [0.0, 0.0]], np.float32)
    q = weight_params(w, axis=0)
    np.testing.assert_array_equal(q.scale, np.float32([2 / 127, 0.5 / 127, 1.0]))
    assert q.axis == 0 and np.all(q.zero_point == 0)
    ints = quantize(w, q, "int8", narrow=True)
    np.testing.assert_array_equal(ints, [[64, -127], [127, 64], [0, 0]])
    per_tensor = weight_params(w, axis=None)
    assert per_tensor.scale.shape == (1,) and per_tensor.scale[0] == np.float32(2 / 127)


def test_depthwise_weights_are_quantized_along_dim_3():
    w = np.zeros((1, 3, 3, 4), np.float32)
    w[..., 2] = 3.0
    q = weight_params(w, axis=3)
    np.testing.assert_array_equal(q.scale, np.float32([1, 1, 3 / 127, 1]))


def test_bias_scale_is_the_float32_product():
    x = QuantParams(np.float32(0.0235), 0)
    w = QuantParams(np.float32([0.1, 0.003]), [0, 0], axis=0)
    b = bias_params(x, w)
    np.testing.assert_array_equal(b.scale, np.float32(0.0235) * np.float32([0.1, 0.003]))
    assert b.dtype == "int32" and b.axis == 0
    ints = quantize(np.float32([1.0, -0.5]), b, "int32")
    np.testing.assert_array_equal(ints, np.round(np.float64([1.0, -0.5]) / b.scale.astype(np.float64)))


def test_quantize_clips_and_dequantize_inverts():
    q = activation_params(-1.0, 1.0)
    x = np.float32([-5.0, -1.0, 0.0, 0.5, 1.0, 5.0])
    ints = quantize(x, q)
    assert ints.dtype == np.int8 and ints.min() == -128 and ints.max() == 127
    np.testing.assert_allclose(dequantize(ints, q)[1:5], x[1:5], atol=float(q.scale[0]) / 2 + 1e-7)


def test_sqnr():
    ref = np.ones(100)
    assert sqnr_db(ref, ref * 1.01) == pytest.approx(40.0, abs=1e-6)


def test_weight_scale_widens_only_where_the_bias_would_not_fit():
    from qgraph.quant.numerics import widen_for_bias

    q = QuantParams(np.float32([1e-3, 1e-9]), [0, 0], axis=0)
    assert widen_for_bias(q, np.float32([0.5, 2.0]), input_scale=0.05)
    assert q.scale[0] == np.float32(1e-3)  # fits: unchanged
    assert q.scale[1] == np.float32(2.0 / (0.05 * 2**30))
    assert not widen_for_bias(q, np.float32([0.5, 2.0]), input_scale=0.05)
