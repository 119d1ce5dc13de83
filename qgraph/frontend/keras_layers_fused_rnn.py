"""LSTM and SimpleRNN as TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM / _RNN (+ REVERSE_V2 for
go_backwards, GATHER of the last step without return_sequences). `keras_layers_rnn.py` checks the
layer (stateful, masks, static length) before it calls `fused_sequence`.

The fused kernels keep their state in variable tensors that outlive an invocation, so
TFLiteConverter's files compute each call from the previous call's final state unless the caller
runs `reset_all_variables()`. Here an all-zero FULLY_CONNECTED of the first input step writes the
state tensors at every invocation: the file is stateless like the Keras layer, and the state
follows a resized batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgraph.emit.tflite import ABSENT_INPUT, VARIABLE_INPUTS
from qgraph.frontend.lowering import LowerCtx
from qgraph.ir import Tensor
from qgraph.ops.sequence import LSTM_ACTIVATIONS, LSTM_STATE_PORTS, RNN_ACTIVATIONS, RNN_STATE_PORTS


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


def _fused_activation(ctx: LowerCtx, layer: Any, lstm: bool) -> str:
    """The fused op's activation code; an LSTM's gates must be sigmoid, as the kernel's are."""
    supported = LSTM_ACTIVATIONS if lstm else RNN_ACTIVATIONS
    act = _fn_name(layer.cell.activation)
    gate = _fn_name(layer.cell.recurrent_activation) if lstm else "sigmoid"
    if gate != "sigmoid":
        raise ctx.fail(
            f"recurrent_activation={gate!r} is not supported (supported: sigmoid, the fused kernel's)"
        )
    if act not in supported:
        raise ctx.fail(f"activation={act!r} is not supported (supported: {', '.join(supported)})")
    return supported[act]


def _cell_weights(layer: Any, gates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras (features, gates * units) kernel, recurrent kernel and bias (zeros without a bias)."""
    cell, n = layer.cell, gates * int(layer.units)
    bias = cell.bias.numpy() if cell.use_bias else np.zeros(n)
    kernel, recurrent = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    return np.asarray(kernel, np.float32), np.asarray(recurrent, np.float32), np.asarray(bias, np.float32)


def _zero_state(ctx: LowerCtx, x: Tensor, units: int, prefix: str, names: tuple[str, ...]) -> list[Tensor]:
    """Zero states (batch, units), one tensor each (the kernel overwrites them), written at every
    invocation from the first input step (see the module docstring)."""
    first = ctx.emit(
        "GATHER",
        # Index [0] (1-d): the step keeps its axis, (batch, 1, features); FULLY_CONNECTED flattens it.
        [x, ctx.const(f"{prefix}first_step", [0], "int32")],
        (-1, 1, x.shape[2]),
        f"{prefix}first_step",
        axis=1,
        batch_dims=0,
    )
    w = ctx.const(f"{prefix}zero_weights", np.zeros((units, x.shape[2]), np.float32))
    b = ctx.const(f"{prefix}zero_bias", np.zeros(units, np.float32))
    return [
        ctx.emit(
            "FULLY_CONNECTED", [first, w, b], (-1, units), f"{prefix}{n}", fused="NONE", keep_num_dims=False
        )
        for n in names
    ]


def _lstm_inputs(ctx, x, kernel, recurrent, bias, states: list[Tensor], prefix: str) -> list[Tensor]:
    """The 24 inputs of UNIDIRECTIONAL_SEQUENCE_LSTM. Keras keeps the gates i, f, c, o in column
    blocks; TFLite takes one (units, in) matrix and one bias per gate."""
    units = recurrent.shape[0]
    absent = ctx.graph.add_tensor(
        Tensor(f"{ctx.name}/{prefix}absent", (0,), "int32", np.zeros(0, np.int32), meta={ABSENT_INPUT: True})
    )
    ins = [absent] * 24
    ins[0] = x
    for k, g in enumerate("ifco"):
        cols = slice(k * units, (k + 1) * units)
        ins[1 + k] = ctx.const(f"{prefix}kernel_{g}", kernel[:, cols].T)
        ins[5 + k] = ctx.const(f"{prefix}recurrent_kernel_{g}", recurrent[:, cols].T)
        ins[12 + k] = ctx.const(f"{prefix}bias_{g}", bias[cols])
    for port, state in zip(LSTM_STATE_PORTS, states, strict=True):
        ins[port] = state
    return ins


def fused_sequence(ctx: LowerCtx, layer: Any, x: Tensor, prefix: str, flip: bool, lstm: bool) -> Tensor:
    """An LSTM (`lstm`) or SimpleRNN `layer` as one fused op; returns what `gru_sequence` does."""
    steps, units = x.shape[1], int(layer.units)
    fused = _fused_activation(ctx, layer, lstm)
    axis = ctx.const(f"{prefix}time_axis", [1], "int32")
    reverse = lambda t, sfx: ctx.emit("REVERSE_V2", [t, axis], t.shape, f"{prefix}{sfx}")  # noqa: E731
    seq_in = reverse(x, "reversed_input") if layer.go_backwards else x
    kernel, recurrent, bias = _cell_weights(layer, 4 if lstm else 1)
    state_ports: tuple[int, ...]
    if lstm:
        states = _zero_state(ctx, x, units, prefix, ("output_state", "cell_state"))
        ins = _lstm_inputs(ctx, seq_in, kernel, recurrent, bias, states, prefix)
        op_type, state_ports = "UNIDIRECTIONAL_SEQUENCE_LSTM", LSTM_STATE_PORTS
    else:
        ins = [
            seq_in,
            ctx.const(f"{prefix}kernel", kernel.T),
            ctx.const(f"{prefix}recurrent_kernel", recurrent.T),
            ctx.const(f"{prefix}bias", bias),
            *_zero_state(ctx, x, units, prefix, ("hidden_state",)),
        ]
        op_type, state_ports = "UNIDIRECTIONAL_SEQUENCE_RNN", RNN_STATE_PORTS
    seq = ctx.emit(
        op_type,
        ins,
        (-1, steps, units),
        f"{prefix}{op_type.lower()}",
        fused=fused,
        time_major=False,
        **{VARIABLE_INPUTS: state_ports},
    )
    if not layer.return_sequences:
        last = ctx.const(f"{prefix}last_step", np.int32(steps - 1), "int32")
        return ctx.emit("GATHER", [seq, last], (-1, units), f"{prefix}last", axis=1, batch_dims=0)
    return reverse(seq, "flipped") if flip else seq
