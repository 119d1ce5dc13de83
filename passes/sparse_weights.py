"""weights with >= 30% zeros  =>  FULLY_CONNECTED v8(x, W sparse), or op(x, DENSIFY(W sparse))

`qgraph.compile(model, sparse=True)` (CLI `--sparse`), target cpu. Per weight, the encoding
LiteRT runs:

- FULLY_CONNECTED, int8 weights and input: 1x16 blocks along the input dimension, read by
  LiteRT's sparse int8 kernel (the same integers as the dense kernel). Only whole zero blocks
  are skipped, so the zeros must come in whole blocks: `qgraph.prune(model, block=(1, 16))`.
  A weight with enough zeros that are not in whole blocks stays dense, and the report says so.
- FULLY_CONNECTED, float32, its zeros in 1x4 blocks (90% of them, TFLiteConverter's rule):
  LiteRT's 1x4 sparse kernel.
- Other float32 and float16 weights of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: value
  by value, unpacked by a DENSIFY op; XNNPACK unpacks it once at load (and may run 1x1
  convolutions sparse), as TFLiteConverter's EXPERIMENTAL_SPARSITY writes them.

A weight is encoded when at least 30% of its values are dropped (TFLiteConverter's minimum
sparsity; for a block encoding, the values in all-zero blocks) and the encoded tensor is smaller
than the dense one. Runs after `float16_weights` (a float16 weight is packed in float16, before
its DEQUANTIZE) and after `check_compression` (which checks the values this pass packs as is).

    >>> SparseWeights().run(graph, ctx)  # FC(x i8, W i8[512,256], 75% in zero 1x16 blocks)  =>  FC v8(x, W sparse)
"""

from __future__ import annotations

import numpy as np

from qgraph.emit.tflite_sparse import block_sparsity, encode, mark_sparse, sparse_block
from qgraph.ir import Graph, Op, Tensor
from qgraph.ops import op_facts
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext

#: TFLiteConverter's kMinSparsityLevel (dense_to_sparse_pass.cc): below it a weight stays dense.
MIN_SPARSITY = 0.3
#: TFLiteConverter's kBlockOverRandomSparsityRatio: a float weight is block sparse when its
#: all-zero blocks hold more than this share of its zeros.
BLOCK_SHARE = 0.9
INT8_BLOCK, FLOAT_BLOCK = (1, 16), (1, 4)
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class SparseWeights(Pass):
    name = "sparse_weights"
    phase = "legalize"
    after = ("materialize_int8", "dynamic_range", "check_compression", "float16_weights")
    targets = ("cpu",)
    options = (
        Option(
            "sparse",
            bool,
            False,
            "store weights with >= 30% zeros in TFLite's sparse format (int8 dense layers: in "
            "1x16 blocks, from qgraph.prune(model, block=(1, 16)))",
        ),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if not ctx.option("sparse"):
            return False
        count, saved, seen = 0, 0, set()
        for op in graph.ops():
            if op.type not in WEIGHTED_OPS:
                continue
            port = op_facts(op.type).weight_port
            assert port is not None  # every op of WEIGHTED_OPS has weights
            x, w = graph.inputs_of(op)[0], graph.inputs_of(op)[port]
            layer = str(op.meta.get("layer", op.name))
            stored = _stored_constant(graph, w)
            if stored is None:
                ctx.log(f"kept {layer}: its weights {w.name!r} are not a constant")
                continue
            if stored.name in seen:  # shared weights: one DENSIFY serves every reader
                continue
            seen.add(stored.name)
            if sparse_block(stored) is not None:  # a graph read from a sparse .tflite
                ctx.log(f"{stored.name} ({layer}): already stored sparse")
                continue
            choice = _encoding(graph, op, x, w, stored)
            if isinstance(choice, str):
                ctx.log(f"kept {stored.name} ({layer}) dense: {choice}")
                continue
            block, densify, how = choice
            packed = encode(np.asarray(stored.data), block)
            if packed.values.size == 0 or packed.nbytes >= stored.nbytes:
                ctx.log(
                    f"kept {stored.name} ({layer}) dense: packed it would take {packed.nbytes:,} bytes "
                    f"against {stored.nbytes:,} dense"
                )
                continue
            if densify:
                _insert_densify(graph, stored, layer)
            mark_sparse(stored, block)
            ctx.log(
                f"{stored.name} ({layer}) {stored.dtype}{list(stored.shape)}: written sparse {how}, "
                f"{_zeros(stored):.1%} zeros: {stored.nbytes:,} -> {packed.nbytes:,} bytes "
                f"(saved {stored.nbytes - packed.nbytes:,})"
            )
            count, saved = count + 1, saved + stored.nbytes - packed.nbytes
        ctx.log(f"{count} weight{'' if count == 1 else 's'} written sparse, {saved:,} bytes saved")
        return count > 0


def _stored_constant(graph: Graph, w: Tensor) -> Tensor | None:
    """The constant behind weight input `w`: itself, or the one a DEQUANTIZE (float16 weights)
    or a DENSIFY (weights already sparse) expands."""
    t = w
    while t.data is None:
        producer = graph.producer(t)
        if producer is None or producer.type not in ("DEQUANTIZE", "DENSIFY"):
            return None
        t = graph.inputs_of(producer)[0]
    return t


def _encoding(graph: Graph, op: Op, x: Tensor, w: Tensor, stored: Tensor) -> tuple[tuple, bool, str] | str:
    """(block, through DENSIFY?, how) to write `stored` sparse, or why it stays dense."""
    data = np.asarray(stored.data)
    zeros = _zeros(stored)
    if zeros < MIN_SPARSITY:
        return f"{zeros:.1%} zeros, below the {MIN_SPARSITY:.0%} threshold"
    kernel = op.type == "FULLY_CONNECTED" and stored is w and graph.sole_reader(w) is op
    if w.dtype == "int8" and x.dtype == "int8" and op.type == "FULLY_CONNECTED":
        if not kernel:
            return "it is also read by other ops, and LiteRT's sparse int8 kernel reads it in place"
        if data.shape[1] % INT8_BLOCK[1]:
            return f"its input dimension {data.shape[1]} is not a multiple of 16 (LiteRT's sparse int8 kernel reads 1x16 blocks)"
        if w.quant is None or np.any(w.quant.zero_point != 0):
            return "its zero point is not 0 (LiteRT's sparse int8 kernel needs symmetric weights)"
        in_blocks = block_sparsity(data, INT8_BLOCK)
        if in_blocks < MIN_SPARSITY:
            return (
                f"{zeros:.1%} zeros, but only {in_blocks:.1%} of its values in all-zero 1x16 blocks, the only "
                "zeros LiteRT's sparse int8 kernel skips; prune it with qgraph.prune(model, block=(1, 16))"
            )
        return INT8_BLOCK, False, "in 1x16 blocks (sparse int8 FULLY_CONNECTED kernel)"
    if stored.dtype not in ("float32", "float16"):
        return (
            f"{stored.dtype} weights of {op.type} with {x.dtype} input: qgraph writes sparse only float32 "
            "and float16 weights (through DENSIFY) and int8 FULLY_CONNECTED weights with int8 input"
        )
    if kernel and w.dtype == "float32" and x.dtype == "float32" and data.shape[1] % FLOAT_BLOCK[1] == 0:
        in_blocks = block_sparsity(data, FLOAT_BLOCK)
        if in_blocks >= MIN_SPARSITY and in_blocks > BLOCK_SHARE * zeros:
            return FLOAT_BLOCK, False, "in 1x4 blocks (sparse float FULLY_CONNECTED kernel)"
    return (1,) * data.ndim, True, "through DENSIFY"


def _insert_densify(graph: Graph, w: Tensor, layer: str) -> None:
    """w -> readers  =>  w -> DENSIFY -> readers (every reader: DENSIFY's output is the same values)."""
    dense = graph.add_tensor(Tensor(f"{w.name}/densified", w.shape, w.dtype, quant=w.quant))
    graph.replace_all_uses(w, dense)
    graph.add_op(Op(f"{w.name}/densify", "DENSIFY", meta={"layer": layer}), [w], [dense])


def _zeros(t: Tensor) -> float:
    data = np.asarray(t.data)
    return float(np.count_nonzero(data == 0)) / data.size if data.size else 0.0
