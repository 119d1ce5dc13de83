"""Keras layers that simulate int8 inference during training (QAT).

`ActivationQuantizer` fake-quantizes one or more tensors that share one set of int8
parameters (one tensor, or all inputs of a concat). Its range is a moving average of the
observed min/max (always containing 0, so TF's FakeQuant nudging equals the exporter's),
updated in training only; the gradient passes straight through inside the range
(TF's FakeQuant). Under `tf.distribute` the range variables are mirrored with MEAN
aggregation, so every replica holds the same range after each step. A `fixed` range
(SOFTMAX, LOGISTIC, TANH outputs) is never updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="qgraph")
class ActivationQuantizer(keras.layers.Layer):
    def __init__(
        self,
        num_bits: int = 8,
        decay: float = 0.99,
        fixed: Sequence[float] | None = None,
        init_range: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_bits, self.decay = int(num_bits), float(decay)
        self.fixed = None if fixed is None else [float(v) for v in fixed]
        self.init_range = None if init_range is None else [float(v) for v in init_range]
        start = self.fixed or self.init_range or [0.0, 0.0]
        common = dict(shape=(), trainable=False, dtype="float32", aggregation="mean")
        self.range_min = self.add_weight(
            name="range_min", initializer=keras.initializers.Constant(start[0]), **common
        )
        self.range_max = self.add_weight(
            name="range_max", initializer=keras.initializers.Constant(start[1]), **common
        )
        # 1 once a range exists (from `fixed`, `init_range` or the first training batch).
        self.initialized = self.add_weight(
            name="initialized",
            initializer=keras.initializers.Constant(1.0 if (fixed or init_range) else 0.0),
            **common,
        )

    def call(self, inputs, training=None, observe=True):
        tensors = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        if training and observe and self.fixed is None:
            self._observe(tensors)
        lo, hi = self.range_min, self.range_max
        # Before any range exists (inference on a fresh model), pass values through.
        quantized = [
            ops.where(
                self.initialized > 0.5,
                keras.quantizers.fake_quant_with_min_max_vars(t, lo, hi, num_bits=self.num_bits),
                t,
            )
            for t in tensors
        ]
        return quantized if isinstance(inputs, list | tuple) else quantized[0]

    def _observe(self, tensors) -> None:
        batch_min = ops.minimum(ops.min(ops.stack([ops.min(t) for t in tensors])), 0.0)
        batch_max = ops.maximum(ops.max(ops.stack([ops.max(t) for t in tensors])), 0.0)
        first = self.initialized < 0.5
        d = self.decay
        self.range_min.assign(ops.where(first, batch_min, d * self.range_min + (1 - d) * batch_min))
        self.range_max.assign(ops.where(first, batch_max, d * self.range_max + (1 - d) * batch_max))
        self.initialized.assign(1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_bits": self.num_bits,
            "decay": self.decay,
            "fixed": self.fixed,
            "init_range": self.init_range,
        }
