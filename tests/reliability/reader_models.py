"""Small .tflite files for the reader's catalogue and fuzz test (built once per session), and the
byte positions of the fields a test damages, found through the schema's flatbuffer accessors."""

from __future__ import annotations

import contextlib
import functools
import io

import numpy as np

from qgraph.emit.schema import S


@functools.cache
def keras_model():
    """A tiny conv/depthwise/pool/dense model with BatchNorm statistics set from data."""
    import keras

    from tests.conftest import randomize_batchnorm

    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3), name="image")
    y = keras.layers.Conv2D(8, 3, name="conv")(x)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.ReLU(name="relu")(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw")(y)
    y = keras.layers.MaxPooling2D(name="pool")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    y = keras.layers.Dense(5, name="dense")(y)
    model = keras.Model(x, y, name="tiny")
    randomize_batchnorm(model)
    return model


@functools.cache
def samples() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(16, 8, 8, 3)).astype(np.float32)


@functools.cache
def qgraph_file(quantize: str = "float") -> bytes:
    import qgraph

    rep = samples() if quantize == "int8" else None
    return qgraph.compile(keras_model(), quantize=quantize, representative_data=rep).tflite


@functools.cache
def sparse_file(quantize: str = "int8") -> bytes:
    """qgraph's file of a 64 -> 32 -> 8 MLP with 3 in 4 weight blocks zero, written sparse
    (`sparse=True`: 1x16 blocks in int8, 1x4 in float)."""
    import keras

    import qgraph

    rng = np.random.default_rng(0)
    x = keras.Input((64,), name="features")
    model = keras.Model(x, keras.layers.Dense(8)(keras.layers.Dense(32, activation="relu")(x)))
    for layer in model.layers[1:]:
        kernel, bias = layer.get_weights()
        blocks = rng.random((kernel.shape[0] // 16, kernel.shape[1])) < 0.25  # 16 inputs of one output
        layer.set_weights([kernel * np.repeat(blocks, 16, axis=0), rng.normal(0, 0.1, bias.shape)])
    rep = rng.normal(size=(16, 64)).astype(np.float32) if quantize == "int8" else None
    return qgraph.compile(model, quantize=quantize, representative_data=rep, sparse=True).tflite


@functools.cache
def converter_int8_file() -> bytes:
    """TFLiteConverter's full-int8 file of the same model and calibration data."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model())
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([s[None]] for s in samples())
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return conv.convert()


# ---- where a field lies in a file: vtable offsets from schema_py_generated (4 = field 0) ----------


def _model(data: bytes):
    return S.Model.GetRootAs(data, 0)


def _vector_item(tab, field: int, j: int, size: int) -> int:
    o = tab.Offset(field)
    assert o, f"field at vtable offset {field} is absent"
    return tab.Vector(o) + j * size


def _scalar(tab, field: int) -> int:
    o = tab.Offset(field)
    assert o, f"field at vtable offset {field} is absent"
    return tab.Pos + o


def operator_input_at(data: bytes, op: int, port: int) -> int:
    """Byte position of operator `op`'s input `port` (an int32 tensor index)."""
    return _vector_item(_model(data).Subgraphs(0).Operators(op)._tab, 6, port, 4)


def tensor_index(data: bytes, name: str) -> int:
    sub = _model(data).Subgraphs(0)
    return next(k for k in range(sub.TensorsLength()) if sub.Tensors(k).Name().decode() == name)


def tensor_shape_at(data: bytes, tensor: int, dim: int) -> int:
    return _vector_item(_model(data).Subgraphs(0).Tensors(tensor)._tab, 4, dim, 4)


def tensor_type_at(data: bytes, tensor: int) -> int:
    return _scalar(_model(data).Subgraphs(0).Tensors(tensor)._tab, 6)


def tensor_name_at(data: bytes, tensor: int) -> int:
    """Byte position of the first character of tensor `tensor`'s name."""
    tab = _model(data).Subgraphs(0).Tensors(tensor)._tab
    at = tab.Pos + tab.Offset(10)
    return at + int.from_bytes(data[at : at + 4], "little") + 4


def scale_count_at(data: bytes, tensor: int) -> int:
    """Byte position of the length of tensor `tensor`'s quantization scale vector."""
    return _vector_item(_model(data).Subgraphs(0).Tensors(tensor).Quantization()._tab, 8, -1, 4)


def builtin_code_at(data: bytes, code: int) -> int:
    return _scalar(_model(data).OperatorCodes(code)._tab, 10)


def patch(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


def operator_of(data: bytes, op_type: str) -> int:
    """The index of the first operator of builtin `op_type` in the file."""
    m = _model(data)
    sub = m.Subgraphs(0)
    code = getattr(S.BuiltinOperator, op_type)
    for k in range(sub.OperatorsLength()):
        c = m.OperatorCodes(sub.Operators(k).OpcodeIndex())
        if max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) == code:
            return k
    raise AssertionError(f"no {op_type} operator")


def weight_tensor(data: bytes, op_type: str = "CONV_2D") -> int:
    """The tensor index of the weights (input 1) of the first operator of builtin `op_type`."""
    return int(_model(data).Subgraphs(0).Operators(operator_of(data, op_type)).Inputs(1))
