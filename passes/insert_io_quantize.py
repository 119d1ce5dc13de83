"""int8 graph with float I/O  =>  QUANTIZE after each input, DEQUANTIZE before each output (io_dtype="float")
                            =>  int8 inputs and outputs as they are                  (io_dtype="int8")
                            =>  uint8 I/O with a QUANTIZE (zero point + 128) at each end (io_dtype="uint8")

The default I/O type is the target's first (`cpu`: float, `edgetpu`: int8). The report
gives each int8/uint8 input's and output's scale and zero point: what a caller needs to
quantize its inputs and read its outputs.

    >>> InsertIOQuantize().run(graph, ctx)  # image -> CONV_2D  =>  image -> QUANTIZE -> CONV_2D
"""

from __future__ import annotations

import copy

from qgraph.errors import OptionError
from qgraph.ir import Graph, Op, Tensor
from qgraph.options import Option
from qgraph.pipeline import Pass, PassContext

IO_DTYPES = ("float", "int8", "uint8")


def io_dtype(ctx: PassContext) -> str:
    default = "float" if ctx.target is None or "float32" in ctx.target.io_dtypes else ctx.target.io_dtypes[0]
    value = ctx.option("io_dtype") or default
    if value not in IO_DTYPES:
        raise OptionError(f"io_dtype={value!r} is not supported; choose one of {', '.join(IO_DTYPES)}")
    allowed = ctx.target.io_dtypes if ctx.target is not None else ("float32", "int8", "uint8")
    if {"float": "float32"}.get(value, value) not in allowed:
        raise OptionError(f"target {ctx.target.name!r} does not take io_dtype={value!r}; it takes {allowed}")  # type: ignore[union-attr]
    return value


class InsertIOQuantize(Pass):
    name = "insert_io_quantize"
    phase = "legalize"
    modes = ("int8",)
    options = (
        Option(
            "io_dtype",
            str,
            None,
            "type of the model's inputs and outputs (default: float if the target takes it, else "
            "the target's first I/O type)",
            choices=IO_DTYPES,
        ),
    )

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        kind = io_dtype(ctx)
        for name in list(graph.inputs):
            x = graph.tensor(name)
            if x.dtype != "float32":  # raw integers (a uint8 image): the file takes what the model declared
                ctx.log(f"input {name}: {_describe(x, x.dtype)} as the model declares it")
                continue
            if kind != "int8" and x.quant is not None:
                inner = graph.add_tensor(Tensor(f"{name}/quantized", x.shape, x.dtype, quant=x.quant))
                graph.replace_all_uses(x, inner)
                graph.add_op(Op(f"{name}/quantize", "QUANTIZE"), [x], [inner])
                x.quant = _shifted(inner.quant, 128) if kind == "uint8" else None
            ctx.log(f"input {name}: {_describe(x, kind)}")
        outputs = []
        for name in graph.outputs:
            y = graph.tensor(name)
            if kind == "int8" or y.quant is None:
                outputs.append(name)
                continue
            out_q = _shifted(y.quant, 128) if kind == "uint8" else None
            out = graph.add_tensor(
                Tensor(
                    f"{name}/{'dequantized' if kind == 'float' else 'uint8'}", y.shape, "float32", quant=out_q
                )
            )
            graph.add_op(
                Op(
                    f"{name}/{'dequantize' if kind == 'float' else 'to_uint8'}",
                    "DEQUANTIZE" if kind == "float" else "QUANTIZE",
                ),
                [y],
                [out],
            )
            outputs.append(out.name)
        graph.outputs = outputs
        for name in outputs:
            ctx.log(f"output {name}: {_describe(graph.tensor(name), kind)}")
        return True


def _shifted(q, offset: int):
    q = copy.deepcopy(q)
    q.zero_point = q.zero_point + offset
    q.dtype = "uint8"
    return q


def _describe(t: Tensor, kind: str) -> str:
    if t.quant is None:
        return t.dtype
    return f"{t.quant.dtype} scale={float(t.quant.scale[0]):.8g} zero_point={int(t.quant.zero_point[0])}"
