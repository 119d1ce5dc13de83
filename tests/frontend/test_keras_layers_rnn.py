"""Embedding, LSTM, GRU, SimpleRNN and Bidirectional: float files match Keras in LiteRT to
round-off; full-int8 files (the fused LSTM/RNN as float islands, GRU unrolled in int8) are no worse
than TFLiteConverter's on an `unroll=True` copy with the same weights (the converter cannot convert
the Keras 3 recurrent layers themselves); what the lowerings do not compute is refused by name."""

from __future__ import annotations

import numpy as np
import pytest

import qgraph
from qgraph.emit.schema import S
from qgraph.ops.sequence import LSTM_OPTIONAL_PORTS, LSTM_STATE_PORTS
from qgraph.testing import converter_int8, max_rel_err, run_litert, sqnr_db

STEPS, FEATURES, VOCAB = 8, 6, 50


def _build(name: str, unroll: bool = False):
    """The model `name`; `unroll=True` gives the copy TFLiteConverter can convert."""
    import keras

    L = keras.layers
    keras.utils.set_random_seed(7)
    if name == "embedding_lstm":
        tokens = keras.Input((STEPS,), dtype="int32")
        x = L.Embedding(VOCAB, 16)(tokens)
        return keras.Model(tokens, L.Dense(5)(L.LSTM(32, unroll=unroll)(x)), name=name)
    inp = keras.Input((STEPS, FEATURES))
    if name == "lstm":
        x = L.LSTM(8, return_sequences=True, go_backwards=True, unroll=unroll)(inp)
        x = L.LSTM(6, activation="relu", unroll=unroll)(x)
    elif name == "gru":
        x = L.GRU(8, return_sequences=True, unroll=unroll)(inp)
        x = L.GRU(6, go_backwards=True, reset_after=False, unroll=unroll)(x)
    elif name == "simple_rnn":
        x = L.SimpleRNN(8, return_sequences=True, go_backwards=True, activation="relu", unroll=unroll)(inp)
        x = L.SimpleRNN(6, unroll=unroll)(x)
    else:  # bidirectional
        x = L.Bidirectional(L.LSTM(8, return_sequences=True, unroll=unroll))(inp)
        x = L.Bidirectional(L.GRU(6, return_sequences=True, unroll=unroll), merge_mode="sum")(x)
        x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(4)(x), name=name)


NAMES = ("embedding_lstm", "lstm", "gru", "simple_rnn", "bidirectional")


def _data(name: str, seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "embedding_lstm":
        return rng.integers(0, VOCAB, (n, STEPS)).astype(np.int32)
    return rng.normal(size=(n, STEPS, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def cases():
    """name -> (model, calibration, held-out samples, Keras output, qgraph's float file)."""
    out = {}
    for name in NAMES:
        model, calib, test = _build(name), _data(name, 0, 64), _data(name, 1, 64)
        out[name] = (model, calib, test, model.predict(test, verbose=0), qgraph.compile(model, "cpu"))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_float_file_matches_keras(cases, name):
    model, _, test, ref, result = cases[name]
    assert max_rel_err(run_litert(result.tflite, test), ref) < 1e-5
    # the ops' Keras kernels (calibration, QAT) compute the same
    assert max_rel_err(qgraph.to_keras(result.graph).predict(test, verbose=0), ref) < 1e-5


def _int8_against_converter(cases, name):
    model, calib, test, ref, _ = cases[name]
    result = qgraph.compile(model, "cpu", "int8", representative_data=calib)
    unrolled = _build(name, unroll=True)
    unrolled.set_weights(model.get_weights())
    ours = sqnr_db(run_litert(result.tflite, test), ref)
    theirs = sqnr_db(run_litert(converter_int8(unrolled, calib), test), ref)
    assert ours > theirs - 1.0, f"{name}: int8 SQNR {ours:.1f} dB, TFLiteConverter {theirs:.1f} dB"
    return result


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn", "bidirectional"])
def test_int8_file_is_no_worse_than_the_converter(cases, name):
    result = _int8_against_converter(cases, name)
    messages = [m for r in result.report.passes if r.name == "insert_float_boundaries" for m in r.messages]
    if name == "gru":
        assert not messages and "FULLY_CONNECTED" in result.report.ops_by_type  # all int8
    else:
        assert messages and "run in float" in messages[0]  # the fused ops: float islands


def test_embedding_lstm_int8_keeps_int32_indices(cases):
    result = _int8_against_converter(cases, "embedding_lstm")
    gather = next(op for op in result.graph.ops() if op.name == "embedding")
    table, indices = result.graph.inputs_of(gather)
    assert (indices.dtype, table.dtype) == ("int32", "int8")
    assert result.graph.outputs_of(gather)[0].quant.scale[0] == table.quant.scale[0]


def test_lstm_file_has_absent_optional_inputs_and_variable_states(cases):
    """The 24-input form, optional inputs -1, the states variable tensors written every call."""
    data = cases["embedding_lstm"][4].tflite
    model = S.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sub = model.subgraphs[0]
    codes = [model.operatorCodes[op.opcodeIndex].builtinCode for op in sub.operators]
    (lstm,) = [
        op
        for op, c in zip(sub.operators, codes, strict=True)
        if c == S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    ]
    inputs = list(lstm.inputs)
    assert len(inputs) == 24 and [p for p, i in enumerate(inputs) if i < 0] == list(LSTM_OPTIONAL_PORTS)
    writers = {o: c for op, c in zip(sub.operators, codes, strict=True) for o in op.outputs}
    for port in LSTM_STATE_PORTS:
        assert sub.tensors[inputs[port]].isVariable
        assert writers[inputs[port]] == S.BuiltinOperator.FULLY_CONNECTED


def test_files_are_stateless_and_follow_the_batch_size(cases):
    """TFLiteConverter's fused LSTM carries its state into the next call; these files do not."""
    from ai_edge_litert.interpreter import Interpreter

    for name in ("embedding_lstm", "simple_rnn", "bidirectional"):
        _, _, test, ref, result = cases[name]
        interp = Interpreter(model_content=result.tflite)
        index = interp.get_input_details()[0]["index"]
        interp.resize_tensor_input(index, (3, *test.shape[1:]))
        interp.allocate_tensors()
        for _ in range(2):
            interp.set_tensor(index, test[:3])
            interp.invoke()
            y = interp.get_tensor(interp.get_output_details()[0]["index"])
            assert max_rel_err(y, ref[:3]) < 1e-5, name


@pytest.mark.parametrize("mode", ["concat", "mul", "ave"])
def test_bidirectional_merge_modes(mode):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((STEPS, FEATURES))
    if mode == "concat":  # a backward layer that does not go backwards: Keras flips its sequence anyway
        fwd, bwd = (L.SimpleRNN(5, go_backwards=g, return_sequences=True) for g in (True, False))
        merged = L.Bidirectional(fwd, backward_layer=bwd, merge_mode=mode)(inp)
    else:
        layer = L.LSTM(5) if mode == "mul" else L.GRU(5, return_sequences=True)
        merged = L.Bidirectional(layer, merge_mode=mode)(inp)
    model = keras.Model(inp, L.Dense(3)(L.Flatten()(merged)))
    test = _data("rnn", 2, 16)
    assert max_rel_err(run_litert(qgraph.compile(model).tflite, test), model.predict(test, verbose=0)) < 1e-5


def _refused(case: str):
    import keras

    L = keras.layers
    inp = keras.Input((STEPS, FEATURES))
    if case == "stateful":
        inp = keras.Input(batch_shape=(2, STEPS, FEATURES))
        return keras.Model(inp, L.LSTM(4, stateful=True)(inp))
    if case == "mask_zero":
        tokens = keras.Input((STEPS,), dtype="int32")
        return keras.Model(tokens, L.LSTM(4)(L.Embedding(VOCAB, 4, mask_zero=True)(tokens)))
    if case == "masking":  # tf-keras: Keras 3 puts the mask's not_equal in the graph, refused first
        import tf_keras

        inp = tf_keras.Input((STEPS, FEATURES))
        return tf_keras.Model(inp, tf_keras.layers.LSTM(4)(tf_keras.layers.Masking()(inp)))
    if case == "float_indices":
        return keras.Model(inp, L.Embedding(VOCAB, 4)(inp))
    if case == "merge_none":
        return keras.Model(inp, L.Bidirectional(L.GRU(4), merge_mode=None)(inp))
    if case == "return_state":
        return keras.Model(inp, L.SimpleRNN(4, return_state=True)(inp)[0])
    if case == "hard_sigmoid_gates":
        return keras.Model(inp, L.LSTM(4, recurrent_activation="hard_sigmoid")(inp))
    if case == "linear_lstm":
        return keras.Model(inp, L.LSTM(4, activation="linear")(inp))
    assert case == "dynamic_length"
    inp = keras.Input((None, FEATURES))
    return keras.Model(inp, L.GRU(4)(inp))


@pytest.mark.parametrize(
    "case, message",
    [
        ("stateful", r"stateful=True \(state carried across calls\) is not supported"),
        ("mask_zero", r"mask_zero=True is not supported"),
        ("masking", r"Masking is not supported"),
        ("float_indices", r"indices of dtype float32 are not supported \(supported: int32"),
        ("merge_none", r"merge_mode=None is not supported \(supported: concat, sum, mul, ave\)"),
        ("return_state", r"return_state=True .* is not supported"),
        ("hard_sigmoid_gates", r"recurrent_activation='hard_sigmoid' is not supported"),
        ("linear_lstm", r"activation='linear' is not supported \(supported: tanh, relu, relu6\)"),
        ("dynamic_length", r"static time length"),
    ],
)
def test_unsupported_options_are_refused_by_name(case, message):
    with pytest.raises(qgraph.UnsupportedLayerError, match=message):
        qgraph.load(_refused(case))
