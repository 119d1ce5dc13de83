"""One keras.applications architecture per family, compiled and run in LiteRT, under the
methodology of `qgraph.testing`: realistic BatchNorm statistics, held-out samples, a
reference that is checked to be informative, and TFLiteConverter as the anchor.

Float: within relative 1e-4 of Keras, or within twice the converter's own deviation where
deep float32 nets accumulate more round-off. Int8: SQNR against Keras no worse than the
converter's (same calibration samples) by more than 1 dB. All 40 constructors are in
`bench/zoo.py`; this is the CI subset (the converter costs 10-40 s per model).
"""

from __future__ import annotations

import pytest

import qgraph
from qgraph.testing import (
    application_model,
    converter_float,
    converter_int8,
    max_rel_err,
    run_litert,
    sqnr_db,
)

FAMILIES = [
    "ConvNeXtTiny",
    "DenseNet121",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Small",
    "MobileNetV3Large",
    "NASNetMobile",
    "ResNet50",
    "ResNet50V2",
    "VGG16",
    "Xception",
]


@pytest.mark.parametrize("name", FAMILIES)
def test_application_float_and_int8_match_keras(name):
    model, calibration, held_out = application_model(name)
    reference = model.predict(held_out, verbose=0)

    float_err = max_rel_err(run_litert(qgraph.compile(model, "cpu").tflite, held_out), reference)
    if float_err > 1e-4:  # deep nets: measure the converter's own round-off only when needed
        converter_err = max_rel_err(run_litert(converter_float(model), held_out), reference)
        assert float_err <= 2 * converter_err, (
            f"{name}: float {float_err:.3g} vs converter {converter_err:.3g}"
        )

    int8 = qgraph.compile(model, "cpu", "int8", representative_data=calibration)
    ours = sqnr_db(run_litert(int8.tflite, held_out), reference)
    theirs = sqnr_db(run_litert(converter_int8(model, calibration), held_out), reference)
    assert ours >= theirs - 1.0, f"{name}: int8 SQNR {ours:.1f} dB vs converter {theirs:.1f} dB"
