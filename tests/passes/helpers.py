"""Shared helpers for the pass unit tests: small IR builders, running one pass the way the
PassManager does (with lint), and comparing the emitted Keras model before and after."""

from __future__ import annotations

import numpy as np

from qgraph.emit.keras import to_keras
from qgraph.ir import Graph, Op, Tensor
from qgraph.pipeline import PassContext, PassRecord

RNG_SEED = 0


def rng(seed: int = RNG_SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


def act(g: Graph, name: str, shape) -> Tensor:
    """A fresh activation tensor (no data)."""
    return g.add_tensor(Tensor(name, tuple(shape)))


def weights(r: np.random.Generator, *shape) -> np.ndarray:
    return r.uniform(-0.5, 0.5, size=shape).astype(np.float32)


def conv2d(
    g: Graph,
    r,
    name: str,
    x: Tensor,
    out_shape,
    out_ch: int,
    kernel=(3, 3),
    stride=(1, 1),
    padding="SAME",
    fused="NONE",
) -> tuple[Op, Tensor]:
    in_ch = x.shape[-1]
    w = g.const(f"{name}/filter", weights(r, out_ch, kernel[0], kernel[1], in_ch))
    b = g.const(f"{name}/bias", weights(r, out_ch))
    y = act(g, f"{name}:0", out_shape)
    op = g.add_op(
        Op(
            name, "CONV_2D", {"padding": padding, "stride": tuple(stride), "dilation": (1, 1), "fused": fused}
        ),
        [x, w, b],
        [y],
    )
    return op, y


def depthwise(
    g: Graph,
    r,
    name: str,
    x: Tensor,
    out_shape,
    multiplier: int = 1,
    kernel=(3, 3),
    stride=(1, 1),
    padding="SAME",
    fused="NONE",
) -> tuple[Op, Tensor]:
    cm = x.shape[-1] * multiplier
    w = g.const(f"{name}/filter", weights(r, 1, kernel[0], kernel[1], cm))
    y = act(g, f"{name}:0", out_shape)
    op = g.add_op(
        Op(
            name,
            "DEPTHWISE_CONV_2D",
            {
                "padding": padding,
                "stride": tuple(stride),
                "dilation": (1, 1),
                "depth_multiplier": multiplier,
                "fused": fused,
            },
        ),
        [x, w, g.const(f"{name}/bias", weights(r, cm))],
        [y],
    )
    return op, y


def dense(g: Graph, r, name: str, x: Tensor, units: int, fused="NONE") -> tuple[Op, Tensor]:
    y = act(g, f"{name}:0", (*x.shape[:-1], units))
    w, b = (
        g.const(f"{name}/weights", weights(r, units, x.shape[-1])),
        g.const(f"{name}/bias", weights(r, units)),
    )
    op = g.add_op(
        Op(name, "FULLY_CONNECTED", {"fused": fused, "keep_num_dims": len(x.shape) > 2}), [x, w, b], [y]
    )
    return op, y


def batch_norm(g: Graph, r, name: str, x: Tensor, epsilon: float = 1e-3) -> tuple[Op, Tensor]:
    c = x.shape[-1]
    gamma = g.const(f"{name}/gamma", r.uniform(0.5, 2.0, c).astype(np.float32))
    beta = g.const(f"{name}/beta", r.uniform(-1.0, 1.0, c).astype(np.float32))
    mean = g.const(f"{name}/moving_mean", r.uniform(-1.0, 1.0, c).astype(np.float32))
    var = g.const(f"{name}/moving_variance", r.uniform(0.5, 1.5, c).astype(np.float32))
    y = act(g, f"{name}:0", x.shape)
    op = g.add_op(Op(name, "BATCH_NORM", {"epsilon": epsilon}), [x, gamma, beta, mean, var], [y])
    return op, y


def unary(g: Graph, name: str, op_type: str, x: Tensor) -> tuple[Op, Tensor]:
    y = act(g, f"{name}:0", x.shape)
    return g.add_op(Op(name, op_type), [x], [y]), y


def new_context(target=None) -> PassContext:
    return PassContext(target=target)


def run_pass(pass_, g: Graph, ctx: PassContext | None = None) -> tuple[bool, PassContext]:
    """Run one pass as `PassManager.run` does (a fresh PassRecord for `ctx.log`, lint after);
    returns (changed, ctx). Not through a PassManager: a lone pass naming others in
    `after` / `before` (fold_pad, fuse_activation) is refused by its ordering."""
    ctx = ctx or new_context()
    record = PassRecord(pass_.name, pass_.phase, "test")
    ctx.records.append(record)
    record.changed = bool(pass_.run(g, ctx))
    record.ran = True
    g.lint()
    return record.changed, ctx


def messages(ctx: PassContext) -> list[str]:
    return ctx.records[-1].messages


def op_types(g: Graph) -> list[str]:
    return [op.type for op in g.ops()]


def evaluate(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    model = to_keras(g)
    outs = model(list(inputs))
    outs = outs if isinstance(outs, list | tuple) else [outs]
    return [np.asarray(o) for o in outs]


def random_inputs(g: Graph, batch: int = 2, seed: int = 1) -> list[np.ndarray]:
    r = rng(seed)
    return [
        r.uniform(-1.0, 1.0, size=[batch if d < 0 else d for d in g.tensor(n).shape]).astype(np.float32)
        for n in g.inputs
    ]


def assert_same_numerics(
    before: Graph, after: Graph, batch: int = 2, inputs: list[np.ndarray] | None = None
) -> None:
    """Emit both graphs with the Keras emitter and compare their outputs on random input
    (or on `inputs`, e.g. for a graph with unknown spatial dims)."""
    assert len(before.outputs) == len(after.outputs)
    xs = random_inputs(before, batch) if inputs is None else inputs
    for want, got in zip(evaluate(before, xs), evaluate(after, xs), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
