"""Lowerings of Embedding and the recurrent layers (conventions in `lowering.py`).

LSTM and SimpleRNN become TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM / _RNN
(`keras_layers_fused_rnn.py`); GRU, which has no fused op, is unrolled (`keras_layers_gru.py`);
Bidirectional runs its two layers and merges them. Keras masks are refused: TFLite's recurrent
ops take none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from qgraph.frontend.keras_layers_fused_rnn import fused_sequence
from qgraph.frontend.keras_layers_gru import gru_sequence
from qgraph.frontend.lowering import LowerCtx, lowers
from qgraph.ir import Tensor
from qgraph.quant.annotations import set_observed_range

_MERGES = {"concat": "CONCATENATION", "sum": "ADD", "mul": "MUL", "ave": "ADD"}


@lowers("Embedding")
def _embedding(ctx):
    """GATHER | int32 indices only (keras.Input(..., dtype="int32")); int8: the output keeps the table's parameters; mask_zero refused"""
    layer = ctx.layer
    if ctx.x.dtype != "int32":
        raise ctx.fail(
            f"indices of dtype {ctx.x.dtype} are not supported (supported: int32; declare the input "
            "keras.Input(shape, dtype='int32'), so that int8 compilation does not quantize the indices)"
        )
    if getattr(layer, "mask_zero", False):
        raise ctx.fail(
            "mask_zero=True is not supported (supported: mask_zero=False; qgraph applies no Keras masks)"
        )
    if getattr(layer, "quantization_mode", None):
        raise ctx.fail(
            f"a Keras-quantized Embedding ({layer.quantization_mode}) is not supported (supported: float)"
        )
    table = ctx.weight("embeddings")
    out = ctx.emit("GATHER", [ctx.const("embeddings", table), ctx.x], axis=0, batch_dims=0)
    # int8 GATHER copies bytes, so the output needs the table's parameters: the table's range gives
    # both the same ones (quantize_weights quantizes the table over its own min and max).
    set_observed_range(out, (float(table.min()), float(table.max())))
    return [out]


@lowers("Masking")
def _masking(ctx):
    """none (refused) | qgraph applies no Keras masks: TFLite's recurrent ops take none"""
    raise ctx.fail(
        "Masking is not supported (supported: unmasked sequences; TFLite's recurrent ops take no mask)"
    )


def _check_recurrent(ctx: LowerCtx, layer: Any) -> None:
    """Refuse what the lowerings do not compute."""
    name = type(layer).__name__
    for flag, why in (
        ("stateful", "state carried across calls"),
        ("return_state", "the final states as extra outputs"),
        ("time_major", "a (time, batch, features) input"),
    ):
        if getattr(layer, flag, False):
            raise ctx.fail(f"{name} with {flag}=True ({why}) is not supported (supported: {flag}=False)")
    if ctx.kwargs.get("mask") is not None:
        raise ctx.fail("a mask is not supported (supported: no mask; TFLite's recurrent ops take none)")
    if ctx.kwargs.get("initial_state") is not None:
        raise ctx.fail("initial_state is not supported (supported: the zero initial state)")
    if len(ctx.x.shape) != 3 or any(d < 0 for d in ctx.x.shape[1:]):
        raise ctx.fail(
            f"input shape {ctx.x.shape} is not supported (supported: (batch, time, features) with a static "
            "time length)"
        )


_SEQUENCES: dict[str, Callable[..., Tensor]] = {
    "LSTM": partial(fused_sequence, lstm=True),
    "SimpleRNN": partial(fused_sequence, lstm=False),
    "GRU": gru_sequence,
}


def _recurrent(ctx: LowerCtx, layer: Any, prefix: str = "", flip: bool = False) -> Tensor:
    """The layer's output (see `gru_sequence`); `flip` reverses a returned sequence."""
    kind = next((cls.__name__ for cls in type(layer).__mro__ if cls.__name__ in _SEQUENCES), None)
    if kind is None:
        raise ctx.fail(
            f"wrapping a {type(layer).__name__} is not supported (supported: {', '.join(_SEQUENCES)})"
        )
    _check_recurrent(ctx, layer)
    return _SEQUENCES[kind](ctx, layer, ctx.x, prefix, flip)


@lowers("LSTM")
def _lstm(ctx):
    """UNIDIRECTIONAL_SEQUENCE_LSTM (+ GATHER, FULLY_CONNECTED: zero state every call; REVERSE_V2; GATHER: last step) | sigmoid gates, activation tanh/relu/relu6; return_sequences; go_backwards; refused: mask, stateful, return_state, initial_state; float island in int8"""
    return [_recurrent(ctx, ctx.layer)]


@lowers("SimpleRNN")
def _simple_rnn(ctx):
    """UNIDIRECTIONAL_SEQUENCE_RNN (+ GATHER, FULLY_CONNECTED: zero state every call; REVERSE_V2; GATHER: last step) | activation tanh/relu/relu6/linear; return_sequences; go_backwards; refused: mask, stateful, return_state, initial_state; float island in int8"""
    return [_recurrent(ctx, ctx.layer)]


@lowers("GRU")
def _gru(ctx):
    """GATHER, FULLY_CONNECTED, ADD, MUL, SUB, LOGISTIC, TANH per step (+ CONCATENATION, RESHAPE) | unrolled over a static length; reset_after True/False; the activations `Activation` supports; return_sequences; go_backwards; refused: mask, stateful, return_state, initial_state; int8"""
    return [_recurrent(ctx, ctx.layer)]


@lowers("Bidirectional")
def _bidirectional(ctx):
    """the wrapped layer's ops for each direction + CONCATENATION / ADD / MUL | LSTM, GRU, SimpleRNN; merge_mode concat, sum, mul, ave (None refused); refused: mask, stateful, return_state"""
    layer = ctx.layer
    mode = layer.merge_mode
    if mode not in _MERGES:
        raise ctx.fail(f"merge_mode={mode!r} is not supported (supported: {', '.join(_MERGES)})")
    if getattr(layer, "return_state", False):
        raise ctx.fail("return_state=True is not supported (supported: return_state=False)")
    fwd = _recurrent(ctx, layer.forward_layer, "forward/")
    # Keras flips the backward layer's sequence whatever its go_backwards
    bwd = _recurrent(ctx, layer.backward_layer, "backward/", flip=layer.return_sequences)
    if mode == "concat":
        return [ctx.emit("CONCATENATION", [fwd, bwd], axis=len(fwd.shape) - 1, fused="NONE")]
    if mode != "ave":
        return [ctx.emit(_MERGES[mode], [fwd, bwd], fused="NONE")]
    total = ctx.emit("ADD", [fwd, bwd], suffix="sum", fused="NONE")
    return [ctx.emit("MUL", [total, ctx.const("half", np.float32(0.5))], fused="NONE")]
