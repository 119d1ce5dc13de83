"""Lowerings of MultiHeadAttention (conventions in `lowering.py`); the shared shape helpers,
Softmax over any axes, Dot, Permute and RepeatVector are in `keras_layers_shuffle.py`, the
normalization layers in `keras_layers_norm.py` (both registered by importing them here).

MultiHeadAttention is lowered as TFLiteConverter writes Keras' einsums: FULLY_CONNECTED
projections (keep_num_dims), heads split by RESHAPE + TRANSPOSE, scores and context by
BATCH_MATMUL. The 1/sqrt(key_dim) scale is a MUL on the query projection, which
`fold_constant_scale` folds into its weights. A mask becomes an additive bias of 0 or -1e9
(Keras' own masked logit: its exp() is exactly 0), built from 0/1 values.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from qgraph.frontend import keras_layers_norm  # noqa: F401  (registers the normalization lowerings)
from qgraph.frontend.keras_layers_shuffle import heads_merged, heads_split, reshape
from qgraph.frontend.lowering import LowerCtx, lowers
from qgraph.ir import Tensor
from qgraph.quant.annotations import mark_float

#: what Keras writes into a masked attention logit (Softmax's `_large_negative_number`).
MASKED_LOGIT = -1e9
_UNSUPPORTED_CALL_ARGS = ("query_mask", "value_mask", "key_mask")


def _numpy(v: Any) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float32)


def _dense_weights(ctx: LowerCtx, dense: Any, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """An EinsumDense's kernel as FULLY_CONNECTED weights (out, in) and its bias (zeros if none)."""
    if getattr(dense, "quantization_mode", None):
        raise ctx.fail(
            f"a {dense.quantization_mode}-quantized projection is not supported (supported: float weights)"
        )
    kernel = _numpy(dense.kernel)
    n_in = kernel.size // n_out
    weights = np.ascontiguousarray(kernel.reshape(n_in, n_out).T)
    bias = getattr(dense, "bias", None)
    return weights, np.zeros(n_out, np.float32) if bias is None else _numpy(bias).reshape(n_out)


def _project(ctx: LowerCtx, dense: Any, x: Tensor, n_out: int, name: str) -> Tensor:
    weights, bias = _dense_weights(ctx, dense, n_out)
    ins = [x, ctx.const(f"{name}/kernel", weights), ctx.const(f"{name}/bias", bias)]
    return ctx.emit("FULLY_CONNECTED", ins, (*x.shape[:-1], n_out), name, fused="NONE", keep_num_dims=True)


def _call_arguments(ctx: LowerCtx) -> dict[str, Any]:
    """The call's arguments by name (Keras 3 and tf-keras share the signature's names)."""
    bound = inspect.signature(ctx.layer.call).bind(*ctx.args, **ctx.kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _check_supported(ctx: LowerCtx, call: dict[str, Any]) -> None:
    layer = ctx.layer
    for name in _UNSUPPORTED_CALL_ARGS:
        if call.get(name) is not None:
            raise ctx.fail(f"{name} is not supported (supported: attention_mask, use_causal_mask)")
    if call.get("return_attention_scores"):
        raise ctx.fail("return_attention_scores=True is not supported (supported: the attention output only)")
    for name in ("query", "value", "key"):
        t = call.get(name)
        if t is not None and (not isinstance(t, Tensor) or len(t.shape) != 3 or min(t.shape[1:]) < 0):
            raise ctx.fail(f"{name} must be a (batch, sequence, features) tensor with static sizes")
    axes = tuple(getattr(layer, "_attention_axes", None) or (1,))
    if axes not in ((1,), (-2,)):
        raise ctx.fail(f"attention_axes={axes} is not supported (supported: the sequence axis, 1)")
    # A Keras mask carried by an input (Embedding(mask_zero=True) upstream) would mask keys implicitly.
    for node in getattr(layer, "_inbound_nodes", []):
        keras_inputs = getattr(node, "keras_inputs", None)  # tf-keras: a flat list
        for kt in keras_inputs if keras_inputs is not None else getattr(node, "input_tensors", []):
            if getattr(kt, "_keras_mask", None) is not None:
                raise ctx.fail("inputs carrying a Keras mask are not supported (supported: attention_mask)")


def _constant_mask(layer: Any, call: dict[str, Any], t: int, s: int) -> np.ndarray | None:
    """The (T, S) 0/1 mask Keras builds from use_causal_mask and sliding_window, or None."""
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    mask = np.ones((t, s), np.float32)
    if call.get("use_causal_mask"):
        mask *= cols <= rows
    window = getattr(layer, "_sliding_window", None)
    if window is not None:
        mask *= np.abs(rows - cols) < int(window)
    return None if mask.all() else mask


def _mask_bias(ctx: LowerCtx, call: dict[str, Any], t: int, s: int) -> Tensor | None:
    """0 where attention is allowed, MASKED_LOGIT where not, shaped to broadcast over (B, N, T, S)."""
    fixed = _constant_mask(ctx.layer, call, t, s)
    given = call.get("attention_mask")
    if given is not None and not isinstance(given, Tensor):  # a constant passed in the call
        given = np.asarray(given, np.float32)
        if given.shape not in ((t, s), (1, t, s)):
            raise ctx.fail(
                f"a constant attention_mask of shape {given.shape} is not supported (supported: ({t}, {s}))"
            )
        fixed = (given.reshape(t, s) != 0) * (1.0 if fixed is None else fixed)
        given = None
    if given is None:
        return None if fixed is None else ctx.const("mask_bias", ((fixed - 1.0) * -MASKED_LOGIT)[None, None])
    if (
        given.dtype != "float32"
        or len(given.shape) != 3
        or given.shape[1] not in (1, t)
        or given.shape[2] != s
    ):
        raise ctx.fail(
            f"attention_mask of dtype {given.dtype} and shape {given.shape} is not supported "
            f"(supported: 0/1 float32 of shape (batch, {t} or 1, {s}))"
        )
    # mask * (allowed * 1e9) - 1e9: exactly 0 where both allow, -1e9 elsewhere.
    scale = -MASKED_LOGIT * (np.ones((1, s), np.float32) if fixed is None else fixed)
    shape = (-1, *np.broadcast_shapes(given.shape[1:], scale.shape))
    scaled = ctx.emit("MUL", [given, ctx.const("mask_scale", scale)], shape, "mask_scaled", fused="NONE")
    bias = ctx.emit(
        "ADD", [scaled, ctx.const("mask_offset", np.float32(MASKED_LOGIT))], shape, "mask_bias", fused="NONE"
    )
    return reshape(ctx, bias, (-1, 1, *shape[1:]), "mask_heads")


@lowers("MultiHeadAttention")
def _multi_head_attention(ctx: LowerCtx) -> list[Tensor]:
    """FULLY_CONNECTED, RESHAPE, TRANSPOSE, BATCH_MATMUL, SOFTMAX (+ ADD of a 0/-1e9 mask bias, float in int8 graphs) | self and cross attention on (batch, seq, features); key; attention_mask of 0/1 (batch, T or 1, S); use_causal_mask; sliding_window; use_gate; output_shape; no return_attention_scores"""
    layer, call = ctx.layer, _call_arguments(ctx)
    _check_supported(ctx, call)
    query, value = call["query"], call["value"]
    key = value if call.get("key") is None else call["key"]
    heads, key_dim = int(layer._num_heads), int(layer._key_dim)
    value_dim = int(getattr(layer, "_value_dim", None) or key_dim)
    t, s = query.shape[1], value.shape[1]

    q = _project(ctx, layer._query_dense, query, heads * key_dim, "query")
    scale = np.float32(1.0 / math.sqrt(float(key_dim)))  # Keras' float32 _inverse_sqrt_key_dim
    q = ctx.emit("MUL", [q, ctx.const("query_scale", scale)], q.shape, "query_scaled", fused="NONE")
    k = _project(ctx, layer._key_dense, key, heads * key_dim, "key")
    v = _project(ctx, layer._value_dense, value, heads * value_dim, "value")
    qh, kh, vh = (heads_split(ctx, x, heads, name) for x, name in ((q, "query"), (k, "key"), (v, "value")))

    scores = ctx.emit("BATCH_MATMUL", [qh, kh], (-1, heads, t, s), "scores", adj_y=True)
    bias = _mask_bias(ctx, call, t, s)
    if bias is not None:
        scores = ctx.emit("ADD", [scores, bias], scores.shape, "masked_scores", fused="NONE")
    probs = ctx.emit("SOFTMAX", [scores], scores.shape, "softmax", beta=1.0)
    if bias is not None:
        # An int8 tensor holding -1e9 and the scores has no step left for the scores (TFLiteConverter's
        # masked attention is near-uniform in int8): the masked softmax runs in float, between a
        # DEQUANTIZE of the int8 scores and a QUANTIZE of the probabilities.
        for op in (ctx.graph.producer(scores), ctx.graph.producer(probs)):
            assert op is not None
            mark_float(op)
    context = ctx.emit("BATCH_MATMUL", [probs, vh], (-1, heads, t, value_dim), "context")
    merged = heads_merged(ctx, context, "context")
    if getattr(layer, "_use_gate", False):
        gate = _project(ctx, layer._gate_dense, query, heads * value_dim, "gate")
        gate = ctx.emit("LOGISTIC", [gate], gate.shape, "gate_sigmoid")
        merged = ctx.emit("MUL", [merged, gate], merged.shape, "gated", fused="NONE")

    out_dims = tuple(ctx.out_shapes[0][2:])
    n_out = int(np.prod(out_dims))
    if len(out_dims) == 1:
        weights, b = _dense_weights(ctx, layer._output_dense, n_out)
        ins = [merged, ctx.const("attention_output/kernel", weights), ctx.const("attention_output/bias", b)]
        return [ctx.emit("FULLY_CONNECTED", ins, fused="NONE", keep_num_dims=True)]
    flat = _project(ctx, layer._output_dense, merged, n_out, "attention_output")
    return [reshape(ctx, flat, ctx.out_shapes[0], "")]
