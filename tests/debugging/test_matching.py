"""Which Keras layer a .tflite tensor name belongs to: qgraph's `layer:0` names and
TFLiteConverter's `model_1/layer_1/Op;...` names, without Keras (unit tests)."""

from __future__ import annotations

import pytest

from qgraph.debugging.matching import layer_of

ORDER = {
    name: k for k, name in enumerate(["image", "stem", "stem_bn", "stem_relu6", "add", "conv2d", "conv2d_1"])
}


@pytest.mark.parametrize(
    "tensor, layer",
    [
        ("stem_relu6:0", "stem_relu6"),  # qgraph: the layer's output
        ("probs/fully_connected:0", None),  # qgraph: part of a layer not in ORDER
        ("stem/conv_2d:0", "stem"),
        ("image/quantized", "image"),
        # the converter: the latest layer any ';' part names, Keras 3's '_1' scope suffix dropped
        ("m_1/stem_relu6_1/Relu6;m_1/stem_bn_1/batchnorm/add_1;m_1/stem_1/convolution", "stem_relu6"),
        # ... but never an op name deeper down: 'batchnorm/add_1' is not the layer 'add'
        ("m_1/stem_bn_1/batchnorm/add_1;m_1/stem_bn_1/batchnorm/mul_1", "stem_bn"),
        ("m_1/add_1/Add", "add"),
        ("m_1/conv2d_1_1/Conv2D", "conv2d_1"),  # layer conv2d_1 in scope conv2d_1_1
        ("m_1/conv2d_1/Conv2D", "conv2d"),  # layer conv2d in scope conv2d_1
        ("serving_default_image:0", None),
        ("StatefulPartitionedCall_1:0", None),
    ],
)
def test_layer_of(tensor, layer):
    assert layer_of(tensor, ORDER, "m") == layer


def test_tf_keras_scopes_are_the_layer_names_themselves():
    assert layer_of("model/conv2d_1/Conv2D", ORDER, "model", keras3=False) == "conv2d_1"
    assert layer_of("model/conv2d/Conv2D", ORDER, "model", keras3=False) == "conv2d"
