"""`OpDef`: everything qgraph knows about one op type, in one record.

Lint, both frontends, the TFLite writer and reader, the Keras emitter, the quantize passes
and the targets read these records (through `qgraph.op_defs()`); nothing else keeps a
table keyed by op type. The record is format-neutral data plus callables: the TFLite
encoder and decoder and the Keras kernel are functions the op's module defines next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qgraph.emit.tflite import SerializeCtx
    from qgraph.emit.tflite_ops import OpEncoding
    from qgraph.ir import Op


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: the default of an attribute every op of the type must carry.
REQUIRED: Any = _Required()

#: `encode(op, ctx) -> OpEncoding`: builtin name, base version, options object (TFLite writer).
Encoder = Callable[["Op", "SerializeCtx"], "OpEncoding"]
#: `decode(options) -> attrs`: a builtin options object back to attrs (TFLite reader).
Decoder = Callable[[Any], dict]
#: `kernel(inputs, attrs) -> tensor`: what the op computes, in `keras.ops` (Keras emitter).
Kernel = Callable[[list[Any], dict[str, Any]], Any]
#: `rule(op, ctx, version) -> version`: a version the tensors' types require beyond the rules below.
VersionRule = Callable[["Op", "SerializeCtx", int], int]


@dataclass(frozen=True)
class OpDef:
    """One op type. Only `type` is needed; every other field says "does not apply" by default.

    >>> OpDef("ABS", tflite_builtin="ABS", kernel=lambda ins, a: keras.ops.abs(ins[0]),
    ...       encode=lambda op, ctx: OpEncoding("ABS", 1), shape="same")
    """

    type: str
    doc: str = ""
    #: attribute name -> default (`REQUIRED` when every op must set it); lint checks the required ones.
    attrs: Mapping[str, Any] = field(default_factory=dict)
    #: "same": the single output has the first input's shape (lint checks it); None: not checked.
    shape: str | None = None

    # ---- weights (TFLite layout) ----------------------------------------------------------
    weight_port: int | None = None
    bias_port: int | None = None
    #: the weights' output-channel axis (per-axis quantization, BatchNorm folding).
    output_channel_axis: int | None = None
    #: the weights' input-channel axis (folding a per-channel scale of the input into them).
    input_channel_axis: int | None = None
    #: can carry a fused activation (`fuse_activation` may fold a RELU* into it).
    fuses_activation: bool = False
    #: the constant input that pruning and clustering constrain (qgraph.prune / qgraph.cluster).
    compress_port: int | None = None
    #: compressed when the user names no layers (False: depthwise kernels, left alone as tfmot does).
    compress_by_default: bool = True

    # ---- quantization role (shared/specs/tflite-format.md) --------------------------------
    #: TFLite has an int8 kernel for it. False: in an int8 graph the op stays a float island
    #: (DEQUANTIZE before, QUANTIZE after; `insert_float_boundaries` reports it).
    int8: bool = True
    #: the int8 kernels fix the output's (scale, zero point): SOFTMAX, LOGISTIC, TANH.
    fixed_output: tuple[float, int] | None = None
    #: the int8 kernel needs the output's scale and zero point on the input too (pools, reshape).
    same_scale: bool = False
    #: every input must share the output's parameters (CONCATENATION, MAXIMUM, MINIMUM).
    shared_input_scale: bool = False

    # ---- TFLite ---------------------------------------------------------------------------
    #: `BuiltinOperator` name; None for an op that exists only before legalization.
    tflite_builtin: str | None = None
    encode: Encoder | None = None
    decode: Decoder | None = None
    #: version of the int8 (and uint8) kernel; 1 when it is the float kernel's.
    int8_version: int = 1
    #: versions with int8 weights and float activations (dynamic range): (per tensor, per axis).
    hybrid_versions: tuple[int, int] | None = None
    version_rule: VersionRule | None = None
    #: op version -> the first TFLite runtime that has it (runtime_version.cc); absent: "1.5.0".
    min_runtime: Mapping[int, str] = field(default_factory=dict)

    # ---- Keras ----------------------------------------------------------------------------
    kernel: Kernel | None = None

    # ---- TensorFlow (lowering a layer from its traced graph, frontend/tf_graph.py) -----------
    #: TF op names (`tf.raw_ops`) that lower 1:1 to this op: same inputs in the same order; an
    #: attribute named like a TF attribute (`alpha`, `keep_dims`) is copied from it, the others
    #: take their defaults. Ops that need more are translated in frontend/tf_ops.py.
    tf_ops: tuple[str, ...] = ()

    #: targets that run this op beyond their own op table: how a plugin's op reaches a built-in
    #: target (e.g. ("cpu",) for a TFLite builtin the cpu table does not list).
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.weight_port is not None and self.output_channel_axis is None:
            raise ValueError(
                f"OpDef {self.type!r}: weight_port needs output_channel_axis (per-axis quantization "
                "and BatchNorm folding read it)"
            )

    @property
    def has_weights(self) -> bool:
        return self.weight_port is not None

    def missing_attrs(self, attrs: Mapping[str, Any]) -> list[str]:
        return [name for name, default in self.attrs.items() if default is REQUIRED and name not in attrs]

    def runtime_for(self, version: int) -> str:
        return self.min_runtime.get(version, "1.5.0")
