"""fold_pad: PAD(zeros on H/W) -> CONV(VALID) => CONV(SAME) when the pad is exactly SAME's."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.ir import Graph, Op
from qgraph.passes.fold_pad import FoldPad, same_padding
from tests.passes.helpers import act, assert_same_numerics, conv2d, messages, op_types, rng, run_pass
from tests.passes.helpers import depthwise as depthwise_conv


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "want"),
    [
        (224, 3, 2, 1, (0, 1)),  # MobileNetV2 stem: even input, 3x3/2
        (224, 7, 2, 1, (2, 3)),  # ResNet stem: 7x7/2 (ResNet pads (3, 3) instead)
        (7, 3, 1, 1, (1, 1)),  # stride 1: symmetric
        (225, 3, 2, 1, (1, 1)),  # odd input, 3x3/2
        (8, 1, 1, 1, (0, 0)),  # 1x1 needs no padding
        (5, 3, 1, 2, (2, 2)),  # dilation 2: effective kernel 5
        (4, 1, 2, 1, (0, 0)),  # total would be negative: clamped to 0
    ],
)
def test_same_padding_matches_hand_computed_values(size, kernel, stride, dilation, want):
    assert same_padding(size, kernel, stride, dilation) == want


def _pad_conv(paddings, kernel, stride, size=8, padding="VALID", depthwise=False):
    """x (-1,size,size,3) -> PAD(paddings) -> CONV_2D|DEPTHWISE_CONV_2D(kernel/stride, padding)."""
    g, r = Graph("pad_conv"), rng()
    x = act(g, "x", (-1, size, size, 3))
    pads = np.asarray(paddings, dtype=np.int32)
    padded = act(g, "x_padded", (-1, size + pads[1].sum(), size + pads[2].sum(), 3))
    g.add_op(Op("pad", "PAD"), [x, g.const("pad/paddings", pads)], [padded])
    out = -(-size // stride) if padding == "SAME" else (padded.shape[1] - kernel) // stride + 1
    if depthwise:
        _, y = depthwise_conv(
            g, r, "dw", padded, (-1, out, out, 3), 1, (kernel, kernel), (stride, stride), padding
        )
    else:
        _, y = conv2d(g, r, "conv", padded, (-1, out, out, 4), 4, (kernel, kernel), (stride, stride), padding)
    g.inputs, g.outputs = ["x"], [y.name]
    return g


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_mobilenetv2_pad_folds_into_same_conv(depthwise):
    g = _pad_conv(((0, 0), (0, 1), (0, 1), (0, 0)), kernel=3, stride=2, depthwise=depthwise)
    before = g.copy()
    changed, ctx = run_pass(FoldPad(), g)
    assert changed
    assert op_types(g) == ["DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"]
    (conv,) = g.ops()
    assert conv.attrs["padding"] == "SAME"
    assert g.inputs_of(conv)[0].name == "x"
    assert "x_padded" not in g.nx and "pad/paddings" not in g.nx
    assert messages(ctx) == ["folded 1 PAD ops into SAME convolutions"]
    g.lint()
    assert_same_numerics(before, g)


def test_pad_not_folded_when_padding_differs_from_same():
    # ResNet stem: ZeroPadding2D(3) before a 7x7/2 VALID conv; SAME would pad (2, 3).
    g = _pad_conv(((0, 0), (3, 3), (3, 3), (0, 0)), kernel=7, stride=2)
    before = g.copy()
    changed, ctx = run_pass(FoldPad(), g)
    assert not changed
    assert op_types(g) == ["PAD", "CONV_2D"]
    assert g.op("conv").attrs["padding"] == "VALID"
    assert (
        messages(ctx)[-1]
        == "kept pad: padding [[3, 3], [3, 3]] differs from SAME's [(2, 3), (2, 3)] for conv"
    )
    g.lint()
    assert_same_numerics(before, g)


def test_pad_not_folded_when_conv_already_same():
    g = _pad_conv(((0, 0), (0, 1), (0, 1), (0, 0)), kernel=3, stride=2, padding="SAME")
    changed, ctx = run_pass(FoldPad(), g)
    assert not changed
    assert op_types(g) == ["PAD", "CONV_2D"]
    assert g.op("conv").attrs["padding"] == "SAME"
    assert messages(ctx)[-1] == "kept pad: conv already uses SAME padding"
    g.lint()


def test_pad_not_folded_when_it_pads_channels():
    g = _pad_conv(((0, 0), (0, 1), (0, 1), (0, 1)), kernel=3, stride=2)
    changed, ctx = run_pass(FoldPad(), g)
    assert not changed
    assert op_types(g) == ["PAD", "CONV_2D"]
    assert (
        messages(ctx)[-1] == "kept pad: it pads the batch or channel axis: [[0, 0], [0, 1], [0, 1], [0, 1]]"
    )
    g.lint()


def test_pad_not_folded_when_padded_tensor_also_feeds_another_op():
    g = _pad_conv(((0, 0), (0, 1), (0, 1), (0, 0)), kernel=3, stride=2)
    padded = g.tensor("x_padded")
    relu_out = act(g, "relu:0", padded.shape)
    g.add_op(Op("relu", "RELU"), [padded], [relu_out])
    g.outputs.append("relu:0")
    before = g.copy()
    changed, ctx = run_pass(FoldPad(), g)
    assert not changed
    assert op_types(g) == ["PAD", "CONV_2D", "RELU"]
    assert g.op("conv").attrs["padding"] == "VALID"
    assert messages(ctx)[-1] == "kept pad: its output is not read by exactly one CONV_2D / DEPTHWISE_CONV_2D"
    g.lint()
    assert_same_numerics(before, g)


def test_pad_not_folded_when_padded_tensor_is_graph_output():
    g = _pad_conv(((0, 0), (0, 1), (0, 1), (0, 0)), kernel=3, stride=2)
    g.outputs.append("x_padded")
    changed, ctx = run_pass(FoldPad(), g)
    assert not changed
    assert op_types(g) == ["PAD", "CONV_2D"]
    assert "not read by exactly one" in messages(ctx)[-1]
    g.lint()


def test_pad_not_folded_when_spatial_size_is_unknown():
    # ZeroPadding2D(1) -> Conv2D(3, strides=2, padding="valid") on an (None, None, 3) input.
    g, r = Graph("dynamic"), rng()
    x = act(g, "x", (-1, -1, -1, 3))
    padded = act(g, "x_padded", (-1, -1, -1, 3))
    g.add_op(
        Op("pad", "PAD"), [x, g.const("pad/paddings", np.int32([[0, 0], [1, 1], [1, 1], [0, 0]]))], [padded]
    )
    conv2d(g, r, "conv", padded, (-1, -1, -1, 4), 4, stride=(2, 2), padding="VALID")
    g.inputs, g.outputs = ["x"], ["conv:0"]
    before = g.copy()
    changed, ctx = run_pass(FoldPad(), g)
    assert not changed, f"folded although SAME's padding depends on the run-time size: {messages(ctx)}"
    assert op_types(g) == ["PAD", "CONV_2D"]
    even = rng(1).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    assert_same_numerics(before, g, inputs=[even])
