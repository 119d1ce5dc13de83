"""GRU unrolled over its time steps (TFLite has no fused GRU): per step, GATHER of the input
step, FULLY_CONNECTED per gate and ADD / MUL / SUB with the gate activations, as TFLiteConverter
writes an unrolled Keras GRU, with one weight tensor per gate shared by all steps. One
FULLY_CONNECTED per gate, not one for all three and a SPLIT: the Keras emitter runs
single-output ops, and the int8 scales stay per gate. `keras_layers_rnn.py` checks the layer
(stateful, masks, static length) before it calls `gru_sequence`.

Keras's step (reset_after=True, the default; `x_*`, `h_*`: the input and recurrent projections):
    z = sigma(x_z + h_z);  r = sigma(x_r + h_r);  hh = act(x_h + r * h_h);  h = z * h + (1 - z) * hh
with reset_after=False, hh = act(x_h + (r * h) U_h). The state starts at zero, so the first step
needs no recurrent product (its recurrent bias is folded into the input bias).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgraph.frontend.lowering import LowerCtx, activation
from qgraph.ir import Tensor


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


class _GruStep:
    """The weights of one GRU layer as constants (shared by every step), and the ops of a step."""

    def __init__(self, ctx: LowerCtx, layer: Any, prefix: str) -> None:
        cell = layer.cell
        self.ctx, self.prefix, self.units = ctx, prefix, int(layer.units)
        self.reset_after = bool(cell.reset_after)
        self.act, self.gate_act = _fn_name(cell.activation), _fn_name(cell.recurrent_activation)
        u = self.units
        kernel = np.asarray(cell.kernel.numpy(), np.float32)  # (F, 3U): z, r, h
        recurrent = np.asarray(cell.recurrent_kernel.numpy(), np.float32)  # (U, 3U)
        bias = np.asarray(cell.bias.numpy(), np.float32) if cell.use_bias else np.zeros(3 * u, np.float32)
        bias = bias.reshape(-1, 3 * u)  # reset_after: (input bias, recurrent bias); else one row
        b_in, b_rec = bias[0], (bias[1] if len(bias) > 1 else np.zeros(3 * u, np.float32))
        gates = {"z": slice(0, u), "r": slice(u, 2 * u), "h": slice(2 * u, 3 * u)}
        self.w = {g: self._const(f"kernel_{g}", kernel[:, s].T) for g, s in gates.items()}
        self.u = {g: self._const(f"recurrent_kernel_{g}", recurrent[:, s].T) for g, s in gates.items()}
        # Biases are made per FULLY_CONNECTED (the weights are shared): an int8 bias takes the scale
        # of its op's input, and each step's state has its own.
        self.b_in = {g: b_in[s] for g, s in gates.items()}
        self.b_rec = {g: b_rec[s] for g, s in gates.items()}
        self.one = self._const("one", np.ones(u, np.float32))

    def _const(self, suffix: str, data: np.ndarray) -> Tensor:
        return self.ctx.const(f"{self.prefix}{suffix}", np.ascontiguousarray(data, np.float32))

    def _emit(self, op_type: str, inputs: list[Tensor], suffix: str, **attrs) -> Tensor:
        return self.ctx.emit(op_type, inputs, (-1, self.units), f"{self.prefix}{suffix}", **attrs)

    def _fc(self, x: Tensor, w: Tensor, bias: np.ndarray, suffix: str) -> Tensor:
        b = self._const(f"{suffix}_bias", bias)
        return self._emit("FULLY_CONNECTED", [x, w, b], suffix, fused="NONE", keep_num_dims=False)

    def _binary(self, op_type: str, a: Tensor, b: Tensor, suffix: str) -> Tensor:
        return self._emit(op_type, [a, b], suffix, fused="NONE")

    def _activation(self, fn: str, x: Tensor, suffix: str) -> Tensor:
        return activation(self.ctx, fn, x, f"{self.prefix}{suffix}")

    def _gate(self, g: str, x_t: Tensor, h: Tensor | None, s: str) -> Tensor:
        """z or r: gate_act(x W_g + b_in_g + h U_g + b_rec_g); with h = 0, one FULLY_CONNECTED."""
        if h is None:
            pre = self._fc(x_t, self.w[g], self.b_in[g] + self.b_rec[g], f"{s}x_{g}")
        else:
            x_g = self._fc(x_t, self.w[g], self.b_in[g], f"{s}x_{g}")
            pre = self._binary("ADD", x_g, self._fc(h, self.u[g], self.b_rec[g], f"{s}h_{g}"), f"{s}pre_{g}")
        return self._activation(self.gate_act, pre, f"{s}{g}")

    def _candidate(self, x_t: Tensor, h: Tensor | None, s: str) -> Tensor:
        """act(x W_h + b_in_h + r * (h U_h + b_rec_h)), or with reset_after=False act(x W_h + b_h + (r * h) U_h)."""
        x_h = self._fc(x_t, self.w["h"], self.b_in["h"], f"{s}x_h")
        if h is None and (not self.reset_after or not np.any(self.b_rec["h"])):
            return self._activation(self.act, x_h, f"{s}hh")  # the recurrent term is 0
        r = self._gate("r", x_t, h, s)
        if h is None:
            h_h = self._binary("MUL", r, self._const(f"{s}recurrent_bias_h", self.b_rec["h"]), f"{s}r_h")
        elif self.reset_after:
            h_h = self._binary("MUL", r, self._fc(h, self.u["h"], self.b_rec["h"], f"{s}h_h"), f"{s}r_h")
        else:
            r_state = self._binary("MUL", r, h, f"{s}r_state")
            h_h = self._fc(r_state, self.u["h"], np.zeros(self.units, np.float32), f"{s}r_h")
        return self._activation(self.act, self._binary("ADD", x_h, h_h, f"{s}pre_h"), f"{s}hh")

    def step(self, x_t: Tensor, h: Tensor | None, k: int) -> Tensor:
        """The state after input step `x_t` (h: the state before it, None for zero)."""
        s = f"step{k}/"
        z, hh = self._gate("z", x_t, h, s), self._candidate(x_t, h, s)
        new = self._binary("MUL", self._binary("SUB", self.one, z, f"{s}one_minus_z"), hh, f"{s}new_h")
        if h is None:
            return new
        return self._binary("ADD", self._binary("MUL", z, h, f"{s}z_h"), new, f"{s}h")


def gru_sequence(ctx: LowerCtx, layer: Any, x: Tensor, prefix: str, flip: bool) -> Tensor:
    """The GRU `layer` on x (batch, time, features): with return_sequences the (batch, time, units)
    outputs in the order processed, as Keras returns them (reversed for go_backwards; `flip`
    reverses them again, as Bidirectional does its backward layer's), else the last state."""
    _, steps, _ = x.shape
    cell = _GruStep(ctx, layer, prefix)
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    h: Tensor | None = None
    states = []
    for k, t in enumerate(order):
        index = ctx.const(f"{prefix}step{k}/index", np.int32(t), "int32")
        x_t = ctx.emit("GATHER", [x, index], (-1, x.shape[2]), f"{prefix}step{k}/x", axis=1, batch_dims=0)
        h = cell.step(x_t, h, k)
        states.append(h)
    assert h is not None
    if not layer.return_sequences:
        return h
    if flip:
        states.reverse()
    u = cell.units
    flat = ctx.emit("CONCATENATION", states, (-1, steps * u), f"{prefix}stack", axis=1, fused="NONE")
    shape = ctx.const(f"{prefix}sequence_shape", (-1, steps, u), "int32")
    return ctx.emit("RESHAPE", [flat, shape], (-1, steps, u), f"{prefix}sequence", new_shape=(-1, steps, u))
