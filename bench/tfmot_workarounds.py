"""tfmot's quantize_model refuses a Rescaling layer; the workaround both tfmot benchmarks use
(bench/qat.py, bench/collab.py): annotate every layer, Rescaling with an output-only config.
Runs in the tf-keras worker process (TF_USE_LEGACY_KERAS=1)."""

from __future__ import annotations

from typing import Any


def quantize_every_layer(model: Any, scheme: Any = None) -> Any:
    """tfmot's QAT model of `model` (a tf-keras model): every layer annotated, Rescaling with
    a config that quantizes only its output, then `quantize_apply` (with `scheme` if given)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    Q = tfmot.quantization.keras

    class OutputQuantizeConfig(Q.QuantizeConfig):
        """No weights; quantize the layer's output like tfmot's other activations."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [
                Q.quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]

        def get_config(self):
            return {}

    def annotate(layer):
        if isinstance(layer, keras.layers.Rescaling):
            return Q.quantize_annotate_layer(layer, quantize_config=OutputQuantizeConfig())
        return Q.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    with Q.quantize_scope({"OutputQuantizeConfig": OutputQuantizeConfig}):
        return Q.quantize_apply(annotated) if scheme is None else Q.quantize_apply(annotated, scheme)
