"""The sparse tensor encoding (qgraph/emit/tflite_sparse.py): LiteRT's own DENSIFY unpacks every
encoding the writer produces to exactly the dense values; the reader decodes it back; the writer
refuses a sparse tensor that a LiteRT kernel would misread."""

from __future__ import annotations

import numpy as np
import pytest

from qgraph.emit.schema import S
from qgraph.emit.tflite import serialize
from qgraph.emit.tflite_sparse import block_sparsity, densify, encode, mark_sparse, sparse_block
from qgraph.errors import QGraphError, UnsupportedOpError
from qgraph.frontend.tflite import from_tflite
from qgraph.ir import Graph, Op, QuantParams, Tensor

# (shape, block, dtype): the encodings qgraph writes (int8 1x16, float 1x4, value by value in
# 2-D and 4-D) and a 2-D block; the large ones need Uint16Vector and Int32Vector indices.
CASES = [
    ((32, 48), (1, 16), "int8"),
    ((8, 12), (1, 4), "float32"),
    ((6, 3, 3, 20), (1, 1, 1, 1), "float16"),
    ((8, 12), (2, 4), "float32"),
    ((300, 260), (1, 1), "float32"),
    ((300, 600), (1, 1), "float32"),
]


def sparse_array(shape, dtype, block=None, seed=0, zeros=0.6) -> np.ndarray:
    """Normal values (no zeros but these) with `zeros` of the blocks of shape `block` set to 0."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape) * 50
    a = np.where(a == 0, 1.0, a).astype(dtype)
    block = block or (1,) * len(shape)
    keep = rng.random([d // b for d, b in zip(shape, block, strict=True)]) >= zeros
    for axis, b in enumerate(block):
        keep = np.repeat(keep, b, axis=axis)
    return np.where(keep, a, 0).astype(dtype)


def densify_graph(a: np.ndarray, block) -> Graph:
    """DENSIFY(a stored sparse) as the graph's only output."""
    g = Graph("densify")
    w = g.const("w", a)
    mark_sparse(w, block)
    y = g.add_tensor(Tensor("y", a.shape, str(a.dtype)))
    g.add_op(Op("densify", "DENSIFY"), [w], [y])
    g.outputs = ["y"]
    g.lint()
    return g


def packed(data: bytes):
    return S.ModelT.InitFromPackedBuf(data, 0)


def test_encoding_is_the_converters_layout():
    enc = encode(np.array([[0, 0, 3, 4], [0, 0, 0, 0], [5, 0, 0, 0]], np.int8), (1, 2))
    assert enc.values.tolist() == [3, 4, 5, 0]
    assert enc.segments.tolist() == [0, 1, 1, 2] and enc.indices.tolist() == [1, 0]
    sp = enc.to_schema()
    assert list(sp.traversalOrder) == [0, 1, 2] and list(sp.blockMap) == [1]
    assert [d.format for d in sp.dimMetadata] == [0, 1, 0]  # DENSE rows, CSR blocks, DENSE block
    assert [d.denseSize for d in sp.dimMetadata] == [3, 0, 2]
    assert sp.dimMetadata[1].arraySegmentsType == S.SparseIndexVector.Uint8Vector
    assert enc.nbytes == 4 + 4 + 2  # values, 4 segments, 2 indices: one byte each


@pytest.mark.parametrize(("shape", "block", "dtype"), CASES)
def test_litert_densify_unpacks_every_encoding_exactly(shape, block, dtype):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    a = sparse_array(shape, dtype, block)
    data = serialize(densify_graph(a, block))
    # The builtin DENSIFY (LiteRT's format converter); XNNPACK only unpacks what a delegated
    # op reads, never a graph output.
    interp = Interpreter(
        model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()
    interp.invoke()
    np.testing.assert_array_equal(interp.get_tensor(interp.get_output_details()[0]["index"]), a)
    model = packed(data)
    w = next(t for t in model.subgraphs[0].tensors if t.sparsity is not None)
    assert len(model.buffers[w.buffer].data) == encode(a, block).values.nbytes < a.nbytes


@pytest.mark.parametrize(("shape", "block", "dtype"), CASES)
def test_reader_decodes_and_rewrites_the_same_bytes(shape, block, dtype):
    a = sparse_array(shape, dtype, block, seed=1)
    data = serialize(densify_graph(a, block))
    g = from_tflite(data)
    w = g.tensor("w")
    np.testing.assert_array_equal(w.data, a)
    assert sparse_block(w) == block
    assert serialize(g) == data


def test_index_vector_type_follows_the_largest_value():
    kinds = {}
    for shape in [(8, 12), (300, 260), (300, 600)]:
        sp = encode(sparse_array(shape, "float32"), (1, 1)).to_schema().dimMetadata[1]
        kinds[shape] = (sp.arraySegmentsType, sp.arrayIndicesType)
    v = S.SparseIndexVector
    assert kinds == {
        (8, 12): (v.Uint8Vector, v.Uint8Vector),
        (300, 260): (v.Uint16Vector, v.Uint16Vector),  # ~31k stored values, column 259
        (300, 600): (v.Int32Vector, v.Uint16Vector),  # ~72k stored values
    }


def test_block_sparsity_counts_only_whole_zero_blocks():
    a = np.zeros((2, 32), np.int8)
    a[0, 3] = 1  # one non-zero keeps its whole block
    assert block_sparsity(a, (1, 16)) == 0.75
    a[1, ::2] = 1  # half zeros, none in a whole block
    assert block_sparsity(a, (1, 16)) == 0.25


def test_densify_names_the_tensor_of_inconsistent_parameters():
    enc = encode(sparse_array((4, 8), "float32"), (1, 1))
    with pytest.raises(QGraphError, match="tensor 'w': its sparsity parameters address .* values"):
        densify(enc.values[:-1], (4, 8), enc.to_schema(), "w")
    with pytest.raises(QGraphError, match="tensor 'w': block \\(1, 3\\) does not tile its shape"):
        mark_sparse(Tensor("w", (4, 8), "float32", np.zeros((4, 8), np.float32)), (1, 3))


def test_writer_refuses_what_litert_would_misread():
    a = sparse_array((8, 16), "float32")
    g = Graph("g")
    x = g.add_tensor(Tensor("x", (-1, 16)))
    w, b = g.const("w", a), g.const("b", np.zeros(8, np.float32))
    mark_sparse(w, (1, 16))
    y = g.add_tensor(Tensor("y", (-1, 8)))
    g.add_op(Op("fc", "FULLY_CONNECTED"), [x, w, b], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    with pytest.raises(
        UnsupportedOpError, match="op 'fc' .*float32 in blocks \\(1, 16\\).*LiteRT's sparse kernels"
    ):
        serialize(g)
    mark_sparse(w, (1, 4))
    assert packed(serialize(g)).operatorCodes[0].version == 8  # the sparse FULLY_CONNECTED kernel
    mark_sparse(b, (1,))
    with pytest.raises(
        UnsupportedOpError, match="op 'fc' \\(FULLY_CONNECTED\\) reads sparse tensor 'b' at input 2"
    ):
        serialize(g)

    g = densify_graph(sparse_array((4, 8), "int8"), (1, 1))
    del g.tensor("w").meta["tflite.sparse_block"]
    with pytest.raises(
        UnsupportedOpError,
        match="op 'densify' \\(DENSIFY\\) reads 'w', which is not a constant stored sparse",
    ):
        serialize(g)


def test_int8_fully_connected_needs_zero_point_zero():
    g = Graph("g")
    q = QuantParams(np.array([0.1], np.float32), np.array([3]), dtype="int8")
    x = g.add_tensor(Tensor("x", (-1, 16), "int8", quant=q))
    w = g.const("w", sparse_array((8, 16), "int8"))
    w.quant = QuantParams(np.array([0.1], np.float32), np.array([1]), dtype="int8")
    b = g.const("b", np.zeros(8, np.int32))
    b.quant = QuantParams(np.array([0.01], np.float32), np.array([0]), dtype="int32")
    mark_sparse(w, (1, 16))
    y = g.add_tensor(Tensor("y", (-1, 8), "int8", quant=q))
    g.add_op(Op("fc", "FULLY_CONNECTED"), [x, w, b], [y])
    g.inputs, g.outputs = ["x"], ["y"]
    with pytest.raises(UnsupportedOpError, match="op 'fc' .*need zero point 0"):
        serialize(g)


def test_a_padded_last_block_is_read_when_its_padding_is_zero():
    """TFLiteConverter writes a (10, 276) int8 FC weight in 1x16 blocks, padding the last one."""
    dense = sparse_array((2, 20), np.int8, seed=3)
    padded = np.zeros((2, 32), np.int8)
    padded[:, :20] = dense
    enc = encode(padded, (1, 16))
    out, block = densify(enc.values, (2, 20), enc.to_schema(), "fc/w")
    np.testing.assert_array_equal(out, dense)
    assert block == (1, 16)
    padded[0, 25] = 7  # a value in the padding: not a tensor of shape (2, 20)
    enc = encode(padded, (1, 16))
    with pytest.raises(QGraphError, match="'fc/w': a sparse block holds nonzero values beyond"):
        densify(enc.values, (2, 20), enc.to_schema(), "fc/w")
