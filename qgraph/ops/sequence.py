"""Sequence ops: GATHER (Embedding, one time step), REVERSE_V2 (go_backwards) and TFLite's fused
recurrent ops UNIDIRECTIONAL_SEQUENCE_LSTM and UNIDIRECTIONAL_SEQUENCE_RNN.

The fused kernels keep their state in *variable* tensors that they overwrite with the final state:
the ports in the `variable_inputs` attribute, which the writer marks `is_variable`. Optional inputs
a layer does not use (peepholes, projection, layer norm) are an empty tensor the writer writes as
-1 (`ABSENT_INPUT`); the Keras kernels skip them. Both run in float only: with `int8=False` an
int8 graph keeps them as float islands (`insert_float_boundaries`), as TFLite's integer LSTM
kernel needs an int16 cell state and per-gate intermediate scales that calibration does not give.
"""

from __future__ import annotations

import numpy as np

from qgraph.emit.schema import S
from qgraph.emit.tflite import VARIABLE_INPUTS
from qgraph.emit.tflite_ops import OpEncoding
from qgraph.ops.kernels import apply_fused, keras_ops
from qgraph.ops.opdef import OpDef
from qgraph.ops.tflite_options import ACT, decode_options, options

#: UNIDIRECTIONAL_SEQUENCE_LSTM ports: 0 input, 1-4 input weights (i, f, c, o), 5-8 recurrent
#: weights, 9-11 peepholes, 12-15 gate biases, 16-17 projection, 18-19 states, 20-23 layer norm.
LSTM_OPTIONAL_PORTS = (9, 10, 11, 16, 17, 20, 21, 22, 23)
LSTM_STATE_PORTS = (18, 19)
#: UNIDIRECTIONAL_SEQUENCE_RNN ports: 0 input, 1 input weights, 2 recurrent weights, 3 bias, 4 state.
RNN_STATE_PORTS = (4,)
#: Keras activation -> the fused kernels' activation code (LSTM gates are sigmoid). The LSTM
#: kernel does not compute activation NONE as the identity (measured in LiteRT), the RNN's does.
RNN_ACTIVATIONS = {"tanh": "TANH", "relu": "RELU", "relu6": "RELU6", "linear": "NONE"}
LSTM_ACTIVATIONS = {"tanh": "TANH", "relu": "RELU", "relu6": "RELU6"}
_ACT = {**ACT, "TANH": S.ActivationFunctionType.TANH}


def _is_absent(value) -> bool:
    return isinstance(value, np.ndarray) and value.size == 0


def _activate(y, name: str):
    return keras_ops().tanh(y) if name == "TANH" else apply_fused(y, name)


def _time_major_to_batch_major(x, a):
    return keras_ops().transpose(x, (1, 0, 2)) if a.get("time_major") else x


def _lstm_kernel(ins, a):
    ops = keras_ops()
    if not all(_is_absent(ins[p]) for p in LSTM_OPTIONAL_PORTS):
        raise ValueError(
            "the Keras kernel of UNIDIRECTIONAL_SEQUENCE_LSTM has no peepholes, projection or layer norm"
        )
    x = _time_major_to_batch_major(ins[0], a)
    w, r, b = ins[1:5], ins[5:9], ins[12:16]
    h, c = ins[18], ins[19]
    clip = float(a.get("cell_clip", 0.0))
    steps = []
    for t in range(x.shape[1]):
        z = [
            ops.matmul(x[:, t], ops.transpose(w[k])) + ops.matmul(h, ops.transpose(r[k])) + b[k]
            for k in range(4)
        ]
        i, f, o = ops.sigmoid(z[0]), ops.sigmoid(z[1]), ops.sigmoid(z[3])
        c = f * c + i * _activate(z[2], a["fused"])
        c = ops.clip(c, -clip, clip) if clip > 0 else c
        h = o * _activate(c, a["fused"])
        steps.append(h)
    y = ops.stack(steps, axis=1)
    return _time_major_to_batch_major(y, a)


def _rnn_kernel(ins, a):
    ops = keras_ops()
    x, (w, r, b, h) = _time_major_to_batch_major(ins[0], a), ins[1:5]
    steps = []
    for t in range(x.shape[1]):
        h = _activate(ops.matmul(x[:, t], ops.transpose(w)) + ops.matmul(h, ops.transpose(r)) + b, a["fused"])
        steps.append(h)
    return _time_major_to_batch_major(ops.stack(steps, axis=1), a)


def _encode_lstm(op, ctx):
    o = options(
        S.UnidirectionalSequenceLSTMOptionsT,
        fusedActivationFunction=_ACT[op.attrs["fused"]],
        cellClip=float(op.attrs.get("cell_clip", 0.0)),
        projClip=float(op.attrs.get("proj_clip", 0.0)),
        timeMajor=bool(op.attrs.get("time_major", False)),
    )
    return OpEncoding("UNIDIRECTIONAL_SEQUENCE_LSTM", 1, "UnidirectionalSequenceLSTMOptions", o)


def _decode_lstm(o) -> dict:
    attrs = decode_options(o)
    if o is not None:
        attrs.update(cell_clip=float(o.cellClip), proj_clip=float(o.projClip), time_major=bool(o.timeMajor))
    return {**attrs, VARIABLE_INPUTS: LSTM_STATE_PORTS}


def _encode_rnn(op, ctx):
    o = options(
        S.SequenceRNNOptionsT,
        fusedActivationFunction=_ACT[op.attrs["fused"]],
        timeMajor=bool(op.attrs.get("time_major", False)),
    )
    return OpEncoding("UNIDIRECTIONAL_SEQUENCE_RNN", 1, "SequenceRNNOptions", o)


def _decode_rnn(o) -> dict:
    attrs = decode_options(o)
    if o is not None:
        attrs["time_major"] = bool(o.timeMajor)
    return {**attrs, VARIABLE_INPUTS: RNN_STATE_PORTS}


def _gather_kernel(ins, a):
    if a.get("batch_dims", 0):
        raise ValueError("the Keras kernel of GATHER has no batch_dims")
    return keras_ops().take(ins[0], ins[1], axis=int(a["axis"]))


def _encode_gather(op, ctx):
    o = options(S.GatherOptionsT, axis=int(op.attrs["axis"]), batchDims=int(op.attrs.get("batch_dims", 0)))
    return OpEncoding("GATHER", 1, "GatherOptions", o)


def _decode_gather(o) -> dict:
    return {**decode_options(o), "batch_dims": int(getattr(o, "batchDims", 0) or 0)}


OPS = [
    OpDef(
        "GATHER",
        "slices of input 0 at the indices in input 1 along `axis` (an embedding lookup, one time step)",
        attrs={"axis": 0, "batch_dims": 0},
        # The int8 kernel copies bytes: the output carries the input's (the table's) parameters.
        same_scale=True,
        compress_port=0,
        tflite_builtin="GATHER",
        encode=_encode_gather,
        decode=_decode_gather,
        int8_version=2,
        min_runtime={1: "1.6.0", 2: "1.14.0"},
        kernel=_gather_kernel,
    ),
    OpDef(
        "REVERSE_V2",
        "input 0 reversed along the axes in input 1 (go_backwards)",
        shape="same",
        same_scale=True,
        tflite_builtin="REVERSE_V2",
        encode=lambda op, ctx: OpEncoding("REVERSE_V2", 1, "ReverseV2Options", S.ReverseV2OptionsT()),
        int8_version=3,
        min_runtime={1: "1.14.0", 2: "2.2.0", 3: "2.5.0"},
        kernel=lambda ins, a: keras_ops().flip(ins[0], axis=tuple(int(v) for v in np.ravel(ins[1]))),
    ),
    OpDef(
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "LSTM over a (batch, time, features) input, sigmoid gates, state in inputs 18-19",
        attrs={
            "fused": "TANH",
            "cell_clip": 0.0,
            "proj_clip": 0.0,
            "time_major": False,
            VARIABLE_INPUTS: LSTM_STATE_PORTS,
        },
        int8=False,
        tflite_builtin="UNIDIRECTIONAL_SEQUENCE_LSTM",
        encode=_encode_lstm,
        decode=_decode_lstm,
        min_runtime={1: "1.13.1"},
        kernel=_lstm_kernel,
    ),
    OpDef(
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "simple RNN over a (batch, time, features) input, state in input 4",
        attrs={"fused": "TANH", "time_major": False, VARIABLE_INPUTS: RNN_STATE_PORTS},
        int8=False,
        tflite_builtin="UNIDIRECTIONAL_SEQUENCE_RNN",
        encode=_encode_rnn,
        decode=_decode_rnn,
        min_runtime={1: "1.14.0"},
        kernel=_rnn_kernel,
    ),
]
