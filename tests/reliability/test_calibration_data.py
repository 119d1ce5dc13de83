"""Calibration data mistakes (issue 13, items 7 and 8): each is an `OptionError` naming the
input, sample or option and what is expected; data that calibrates to degenerate ranges
warns (under `compile` a `CompileWarning`, a report line and `report.warnings`; from
`quantize_model` a `CalibrationWarning`); every source is capped, so an endless one stops,
and percentile calibration reads a generator once."""

from __future__ import annotations

import functools
import itertools
import re
import warnings
from unittest import mock

import numpy as np
import pytest

from qgraph.errors import OptionError
from qgraph.notices import CompileWarning
from qgraph.quant.calibrate import DEFAULT_MAX_SAMPLES, CalibrationWarning
from tests.reliability.catalogue import Case, check, cli

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6)).astype(np.float32)  # 40 samples for the one-input model
Y = RNG.integers(0, 3, 40)  # labels a user may leave in


@functools.cache
def one_input():
    """Input (6,) -> Dense(4, relu) -> Dense(3)."""
    import keras

    inp = keras.Input((6,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Dense(4, activation="relu")(inp)))
    model.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@functools.cache
def two_inputs():
    """Inputs a (6,) and b (6,) -> Concatenate -> Dense(3)."""
    import keras

    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    return keras.Model([a, b], keras.layers.Dense(3)(keras.layers.Concatenate()([a, b])))


@functools.cache
def dead_relu():
    """Input (6,) -> Dense(8, relu) with bias -100 (dead on any sane input) -> Dense(3)."""
    import keras

    inp = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", bias_initializer=keras.initializers.Constant(-100.0))
    return keras.Model(inp, keras.layers.Dense(3)(hidden(inp)))


@functools.cache
def overflowing():
    """Input (6,) -> Dense(4) with weights 1e30: inputs near 1e10 give inf in float32."""
    import keras

    inp = keras.Input((6,), name="x")
    dense = keras.layers.Dense(4)
    model = keras.Model(inp, dense(inp))
    dense.set_weights([np.full((6, 4), 1e30, np.float32), np.zeros(4, np.float32)])
    return model


def int8(model, data, **options):
    import qgraph

    return qgraph.compile(model, quantize="int8", representative_data=data, **options)


def qat(model, data):
    import qgraph

    return qgraph.quantize_model(model, representative_data=data)


def slices(*arrays):
    """tf.data.Dataset.from_tensor_slices(arrays)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(arrays[0] if len(arrays) == 1 else arrays)


def warned(action, category=CompileWarning):
    """(what `action()` returns, the messages of the `category` warnings it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
    return result, [str(w.message) for w in caught if issubclass(w.category, category)]


def report_lines(result) -> list[str]:
    return [m for r in result.report.passes if r.name == "calibrate" for m in r.messages]


def endless(x):
    """A generator of samples that never ends (`while True: yield ...`)."""
    for k in itertools.count():
        yield x[k % len(x)]


def _samples_used(result) -> int:
    line = next(m for m in report_lines(result) if m.startswith("ran the float graph on"))
    return int(line.split()[5])


def _warns(pattern: str, samples: int | None = None):
    def check_result(result, tmp_path):
        compiled, messages = result
        assert [m for m in messages if re.search(pattern, m)], messages
        assert [m for m in report_lines(compiled) if re.search(f"^warning: .*{pattern}", m)]
        assert [m for m in compiled.report.warnings if re.search(pattern, m)]
        if samples is not None:
            assert _samples_used(compiled) == samples

    return check_result


def _silent(samples: int | None = None, same_as=None):
    def check_result(result, tmp_path):
        compiled, messages = result
        assert messages == [], messages
        if samples is not None:
            assert _samples_used(compiled) == samples
        if same_as is not None:
            assert compiled.tflite == same_as().tflite

    return check_result


def _cli_nan(tmp_path):
    model_path, data_path = tmp_path / "m.keras", tmp_path / "nan.npy"
    one_input().save(model_path)
    np.save(data_path, np.where(X > 2.0, np.nan, X))
    out = tmp_path / "m.tflite"
    return cli(
        "compile", str(model_path), "-o", str(out), "--quantize", "int8", "--calibration", str(data_path)
    )


def _percentile_array():
    return int8(one_input(), X, calibration_method="percentile")


def _one_match(messages: list[str], pattern: str) -> None:
    assert len([m for m in messages if re.search(pattern, m)]) == 1, messages


def _with_budget(budget: int, action):
    with mock.patch("qgraph.quant.samples.KEEP_BYTES", budget):
        return action()


CASES: list[Case] = [
    # item 7: what the data holds
    Case(
        "calib-two-inputs-one-array",
        7,
        "a 2-input model given one array as representative_data",
        lambda tmp: int8(two_inputs(), X),
        OptionError,
        r"representative_data is one array of shape \(40, 6\); the model has 2 inputs \(a, b\): pass "
        r"one array per input",
    ),
    Case(
        "calib-unequal-samples",
        7,
        "a 2-input model given [a (40 samples), b (10 samples)]",
        lambda tmp: int8(two_inputs(), [X, X[:10]]),
        OptionError,
        r"40 samples for input 'a' and 10 samples for input 'b'; every input needs the same number",
    ),
    Case(
        "calib-nan",
        7,
        "representative_data with NaN in one sample",
        lambda tmp: int8(one_input(), np.where(np.arange(40)[:, None] == 7, np.nan, X)),
        OptionError,
        r"representative_data sample 7 \(counting from 0\) of input 'x' has 6 NaN values; calibration "
        r"needs finite numbers",
    ),
    Case(
        "calib-inf",
        7,
        "representative_data with +inf in a generator's third sample",
        lambda tmp: int8(one_input(), (np.where(k == 2, np.inf, X[k]) for k in range(10))),
        OptionError,
        r"sample 2 \(counting from 0\) of input 'x' has 6 infinite values",
    ),
    Case(
        "calib-float64-overflow",
        7,
        "float64 representative_data with values of 1e300 (inf once in float32)",
        lambda tmp: int8(one_input(), np.where(X > 2.0, 1e300, X.astype(np.float64))),
        OptionError,
        r"infinite values \(or beyond float32's range\)",
    ),
    Case(
        "calib-nan-cli",
        7,
        "`qgraph compile m.keras --quantize int8 --calibration nan.npy` (NaN in the file)",
        _cli_nan,
        SystemExit,
        r"qgraph: error: representative_data sample \d+ \(counting from 0\) of input 'x' has \d+ NaN",
    ),
    Case(
        "calib-object-array",
        7,
        "an object array (rows of unequal length, or mixed types)",
        lambda tmp: int8(one_input(), np.array([X[0], X[1][:4]], dtype=object)),
        OptionError,
        r"input 'x': is an array of Python objects \(dtype object: ragged rows or mixed types\); pass "
        r"real numbers, e.g. a float32 array of shape \(-1, 6\)",
    ),
    Case(
        "calib-ragged-list",
        7,
        "a nested list with one row shorter than the others",
        lambda tmp: int8(one_input(), [[X[0].tolist(), X[1][:5].tolist()]]),
        OptionError,
        r"representative_data item 0, input 'x': nested lists of unequal lengths \(ragged\); every "
        r"sample must have the shape \(6,\)",
    ),
    Case(
        "calib-nested-list",
        7,
        "a nested list of numbers (x.tolist())",
        lambda tmp: warned(lambda: int8(one_input(), X.tolist())),
        None,
        says="works: the same file as the array gives",
        check=_silent(40, same_as=lambda: int8(one_input(), X)),
    ),
    Case(
        "calib-complex",
        7,
        "complex representative_data",
        lambda tmp: int8(one_input(), X.astype(np.complex64)),
        OptionError,
        r"input 'x': is complex \(complex64\); the model takes real numbers: pass x.real or abs\(x\)",
    ),
    Case(
        "calib-text",
        7,
        "an array of strings (numbers read from a CSV, not converted)",
        lambda tmp: int8(one_input(), X.astype(str)),
        OptionError,
        r"input 'x': has dtype <U\d+; pass real numbers",
    ),
    Case(
        "calib-labels-generator",
        7,
        "a generator yielding (x, y) pairs, as for fit()",
        lambda tmp: int8(one_input(), ((X[k], Y[k]) for k in range(40))),
        OptionError,
        r"representative_data item 0 looks like an \(inputs, labels\) pair: its second element "
        r"\(shape \(\)\) is not an input of the model \(x\)\. Calibration takes inputs only: drop "
        r"the labels",
    ),
    Case(
        "calib-labels-dataset",
        7,
        "tf.data.Dataset.from_tensor_slices((x, y)).batch(8)",
        lambda tmp: int8(one_input(), slices(X, Y).batch(8)),
        OptionError,
        r"item 0 looks like an \(inputs, labels\) pair: its second element \(shape \(8,\)\).*drop the "
        r"labels, e.g. \(x for x, _ in data\) or dataset.map\(lambda x, y: x\)",
    ),
    Case(
        "calib-labels-tuple",
        7,
        "representative_data=(x_train, y_train)",
        lambda tmp: int8(one_input(), (X, Y)),
        OptionError,
        r"representative_data looks like an \(inputs, labels\) pair.*drop the labels",
    ),
    Case(
        "calib-labels-two-inputs",
        7,
        "a 2-input model given a generator of ((a, b), y)",
        lambda tmp: int8(two_inputs(), (((X[k], X[k]), Y[k]) for k in range(40))),
        OptionError,
        r"item 0 looks like an \(inputs, labels\) pair.*model \(a, b\).*drop the labels",
    ),
    Case(
        "calib-labels-qat",
        7,
        "quantize_model(model, representative_data=(x_train, y_train))",
        lambda tmp: qat(one_input(), (X, Y)),
        OptionError,
        r"representative_data looks like an \(inputs, labels\) pair.*drop the labels",
    ),
    Case(
        "calib-max-samples-string",
        7,
        'max_calibration_samples="5"',
        lambda tmp: int8(one_input(), X, max_calibration_samples="5"),
        OptionError,
        r"option max_calibration_samples='5' is a str; max_calibration_samples takes an int",
    ),
    Case(
        "calib-max-samples-zero",
        7,
        "max_calibration_samples=0",
        lambda tmp: int8(one_input(), X, max_calibration_samples=0),
        OptionError,
        r"max_calibration_samples=0 is not supported; give a whole number >= 1 \(default 1000\)",
    ),
    Case(
        "calib-all-zero",
        7,
        "all-zero representative_data",
        lambda tmp: warned(lambda: int8(one_input(), np.zeros((20, 6), np.float32))),
        None,
        says="warns (CompileWarning, report line): input 'x' (0) has one value in every sample",
        check=_warns(r"input 'x' \(0\) has one value in every sample of representative_data"),
    ),
    Case(
        "calib-dead-activations",
        7,
        "data on which most activations are constant (a ReLU layer dead on every sample)",
        lambda tmp: warned(lambda: int8(dead_relu(), X)),
        None,
        says="warns (CompileWarning, report line), naming the activations with min == max",
        check=_warns(r"2 of 2 activations have one value on all of representative_data \(min == max\)"),
    ),
    Case(
        "calib-all-zero-qat",
        7,
        "quantize_model(model, representative_data=all zeros)",
        lambda tmp: warned(
            lambda: qat(one_input(), np.zeros((20, 6))),
            CalibrationWarning,
        ),
        None,
        says="CalibrationWarning: input 'x' (0) has one value in every sample",
        check=lambda result, tmp: _one_match(result[1], r"input 'x' \(0\) has one value in every sample"),
    ),
    Case(
        "calib-model-overflows",
        7,
        "finite data on which the float model computes inf (weights 1e30, inputs 1e10)",
        lambda tmp: int8(overflowing(), X * 1e10),
        OptionError,
        r"the float model computes NaN or infinite values on representative_data at '[^']+' "
        r"\(-?inf",
    ),
    # item 8: sources read once, and capped
    Case(
        "calib-percentile-generator",
        8,
        'a generator with calibration_method="percentile"',
        lambda tmp: warned(lambda: int8(one_input(), iter(X), calibration_method="percentile")),
        None,
        says="works: read once, kept for the histogram pass; the same file as the array gives",
        check=_silent(40, same_as=_percentile_array),
    ),
    Case(
        "calib-endless-dataset",
        8,
        "tf.data.Dataset.from_tensor_slices(x).repeat() without max_calibration_samples",
        lambda tmp: warned(lambda: int8(one_input(), slices(X).repeat())),
        None,
        says=f"stops at {DEFAULT_MAX_SAMPLES} samples and warns: used the first {DEFAULT_MAX_SAMPLES}",
        check=_warns(r"used the first 1000 samples of representative_data and left the rest", 1000),
    ),
    Case(
        "calib-endless-generator-percentile",
        8,
        'an endless generator with calibration_method="percentile"',
        lambda tmp: warned(lambda: int8(one_input(), endless(X), calibration_method="percentile")),
        None,
        says=f"stops at {DEFAULT_MAX_SAMPLES} samples, both passes on them, and warns",
        check=_warns(r"used the first 1000 samples", 1000),
    ),
    Case(
        "calib-endless-generator-capped",
        8,
        "an endless generator with max_calibration_samples=50",
        lambda tmp: warned(lambda: int8(one_input(), endless(X), max_calibration_samples=50)),
        None,
        says="uses 50 samples, no warning (the cap was asked for)",
        check=_silent(50),
    ),
    Case(
        "calib-array-over-cap",
        8,
        f"an array of 1500 samples (more than the cap on streamed data, {DEFAULT_MAX_SAMPLES})",
        lambda tmp: warned(lambda: int8(one_input(), np.tile(X, (38, 1))[:1500])),
        None,
        says="uses all 1500: an array is finite and already in memory (only streamed data is capped)",
        check=_silent(1500),
    ),
    Case(
        "calib-percentile-memory-budget",
        8,
        "a generator with percentile whose samples outgrow the memory budget (512 MiB; 256 bytes here)",
        lambda tmp: warned(
            lambda: _with_budget(256, lambda: int8(one_input(), iter(X), calibration_method="percentile"))
        ),
        None,
        says="stops where the kept samples reach the budget, both passes on them, and warns",
        check=_warns(r"held 11 samples of representative_data in memory for the percentile pass", 11),
    ),
]


def _qat_model():
    import qgraph

    return qgraph.quantize_model(one_input(), representative_data=X)  # ranges initialized


def _compile(model, **options):
    import qgraph

    return qgraph.compile(model, **options)


CASES += [
    Case(
        "calib-percentile-without-method",
        10,
        "compile(..., percentile=99.9) with the default calibration_method='minmax'",
        lambda tmp: int8(one_input(), X, percentile=99.9),
        OptionError,
        r"percentile=99.9 is only used with calibration_method='percentile'",
    ),
    Case(
        "calib-method-on-qat-without-data",
        10,
        "compile(qat_model, calibration_method='percentile') with no representative_data",
        lambda tmp: _compile(_qat_model(), calibration_method="percentile"),
        OptionError,
        r"calibration_method='percentile': no calibration runs .* drop it",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, tmp_path):
    check(case, tmp_path)
