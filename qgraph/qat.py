"""`quantize_model`: a Keras model -> a trainable Keras model that simulates int8 inference.

qat = qgraph.quantize_model(model)                 # BN folded, fake-quant inserted
qat.compile(optimizer=keras.optimizers.Adam(1e-4), loss=..., metrics=[...])
qat.fit(x, y, epochs=5)                            # ranges and weights learn together
qgraph.compile(qat, target="cpu", output="m.tflite")  # int8 from the learned ranges
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from qgraph.errors import OptionError
from qgraph.ir import Op

LayerSelection = Sequence[str | type] | Callable[[Op], bool] | None


def quantize_model(
    model: Any,
    layers: LayerSelection = None,
    *,
    weight_bits: int = 8,
    activation_bits: int = 8,
    representative_data: Any = None,
    target: str = "cpu",
    preserve: Sequence[str] | str | None = None,
) -> Any:
    """Return a Keras 3 model with fake-quant where `target`'s int8 kernels quantize.

    - `layers`: which layers to quantize: None (all), a list of layer names and/or layer
      classes (Keras classes or class names), or a predicate on the IR op (`op.meta["layer"]`
      and `op.meta["class"]` name the Keras layer). The rest stay float; the export puts
      QUANTIZE / DEQUANTIZE at the borders.
    - `weight_bits` (2-8) and `activation_bits` (8 or 16) set the simulated precision;
      export runs 8-bit activations only and says so for 16.
    - `representative_data` (optional, any form `compile` takes) initializes the ranges
      from a calibration run; otherwise the first training batch does.
    - `preserve`: the weight constraints training keeps (PQAT, CQAT, PCQAT): None keeps
      those `qgraph.prune` / `qgraph.cluster` set; ("sparsity",), ("clusters",) or both also
      find them in any model's weights (exact zeros; few distinct values); () drops them.
    Accepts Keras 3 and tf-keras models, Sequential, Functional and nested.
    """
    import qgraph
    from qgraph.emit.keras import to_keras
    from qgraph.pipeline import PassContext, PassManager
    from qgraph.targets import get_target

    if not 2 <= int(weight_bits) <= 8:
        raise OptionError(f"weight_bits={weight_bits} is not supported; choose 2 to 8")
    if activation_bits not in (8, 16):
        raise OptionError(f"activation_bits={activation_bits} is not supported; choose 8 or 16")
    if isinstance(preserve, str):
        preserve = (preserve,)
    unknown = sorted(set(preserve or ()) - {"sparsity", "clusters"})
    if unknown:
        raise OptionError(
            f"preserve={tuple(preserve or ())!r}: {', '.join(map(repr, unknown))} is not a "
            "constraint; choose from 'sparsity' and 'clusters'"
        )
    graph = qgraph.load(model)
    ctx = PassContext(
        get_target(target).configured({}),
        "qat",
        {
            "select": _selector(layers),
            "weight_bits": int(weight_bits),
            "activation_bits": int(activation_bits),
            "preserve": None if preserve is None else tuple(preserve),
        },
    )
    PassManager.from_plugins().run(graph, ctx, phases=("import", "optimize", "compress", "quantize"))
    if representative_data is not None:
        from qgraph.quant.annotations import quantizers, set_quantizers
        from qgraph.quant.calibrate import calibrate

        ranges = calibrate(graph, representative_data)
        specs = quantizers(graph)
        for name, spec in specs.items():
            if spec.fixed is None:
                lo, hi = ranges[name]
                specs[name] = replace(spec, init=(min(lo, 0.0), max(hi, 0.0)))
        set_quantizers(graph, specs)
    qat = to_keras(graph, fake_quant=True, name=f"{graph.name}_qat", constraints=True)
    qat.qgraph_report = ctx.records  # what the passes did, for the curious
    return qat


def _selector(layers: LayerSelection) -> Callable[[Op], bool] | None:
    if layers is None or callable(layers):
        return layers
    names = {x for x in layers if isinstance(x, str)}
    classes = {x.__name__ for x in layers if isinstance(x, type)}

    def selected(op: Op) -> bool:
        layer = op.meta.get("layer", "")
        return layer in names or op.meta.get("class") in names | classes or op.name in names

    return selected
