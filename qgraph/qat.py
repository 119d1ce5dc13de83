"""`quantize_model`: a Keras model -> a trainable Keras model that simulates int8 inference.

qat = qgraph.quantize_model(model)                 # BN folded, fake-quant inserted
qat.compile(optimizer=keras.optimizers.Adam(1e-4), loss=..., metrics=[...])
qat.fit(x, y, epochs=5)                            # ranges and weights learn together
qgraph.compile(qat, target="cpu", output="m.tflite")  # int8 from the learned ranges
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from qgraph.errors import OptionError
from qgraph.ir import Graph, Op

if TYPE_CHECKING:
    from qgraph.targets import Target

LayerSelection = Sequence[str | type] | Callable[[Op], bool] | None
#: quantize_model's own keywords (the rest are the target's options).
QUANTIZE_MODEL_KEYWORDS = (
    "layers",
    "weight_bits",
    "activation_bits",
    "representative_data",
    "target",
    "preserve",
)


def quantize_model(
    model: Any,
    layers: LayerSelection = None,
    *,
    weight_bits: int = 8,
    activation_bits: int = 8,
    representative_data: Any = None,
    target: Any = "cpu",
    preserve: Sequence[str] | str | None = None,
    **target_options: Any,
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
    - `target` (and its options, e.g. `api_level=28` for nnapi): the device the model is
      trained for; its int8 kernels decide the fake-quant (per-tensor weights on edgetpu and
      on nnapi below api_level 29). Compiling for another target requantizes what it cannot
      run, with a warning.
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
    if isinstance(layers, str | type):  # one layer: not the characters of its name
        layers = (layers,)
    _refuse_qat_model(model)
    configured = _configured_target(get_target(target), target_options)
    graph = qgraph.load(model)
    _check_selection(graph, layers)
    ctx = PassContext(
        configured,
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
        from qgraph.quant.calibration_checks import python_warning

        # Warnings about the data show at the line that called quantize_model.
        ranges = calibrate(graph, representative_data, warn=python_warning(lambda _: None, stacklevel=5))
        specs = quantizers(graph)
        for name, spec in specs.items():
            if spec.fixed is None:
                lo, hi = ranges[name]
                specs[name] = replace(spec, init=(min(lo, 0.0), max(hi, 0.0)))
        set_quantizers(graph, specs)
    qat = to_keras(graph, fake_quant=True, name=f"{graph.name}_qat", constraints=True)
    qat.qgraph_report = ctx.records  # what the passes did, for the curious
    return qat


def _refuse_qat_model(model: Any) -> None:
    """A QAT model's fake-quant layers hold learned ranges a second `quantize_model` would drop."""
    from qgraph.quant.annotations import has_learned_ranges

    if isinstance(model, Graph):
        qat = has_learned_ranges(model)
    else:
        stack, qat = list(getattr(model, "layers", [])), False
        while stack and not qat:
            layer = stack.pop()
            qat = type(layer).__name__ == "ActivationQuantizer"
            stack += list(getattr(layer, "layers", []))
    if qat:
        raise OptionError(
            f"model {getattr(model, 'name', '')!r} is already a QAT model (it has qgraph's fake-quant "
            "layers and their learned ranges, which quantize_model would drop): train it further, or "
            "export it with qgraph.compile(model, target=...); to start over, quantize the float model"
        )


def _configured_target(target: Target, options: dict[str, Any]) -> Target:
    """`target` with its own options (`api_level=28`) set; any other name is an `OptionError`."""
    from qgraph.compiler import did_you_mean

    own = {o.name: o for o in target.options}
    for name, value in options.items():
        if name not in own:
            raise OptionError(
                f"quantize_model got an unknown keyword {name!r}"
                + did_you_mean(name, [*QUANTIZE_MODEL_KEYWORDS, *own])
                + f"; it takes {', '.join(QUANTIZE_MODEL_KEYWORDS)}"
                + (
                    f", and the options of target {target.name!r}: {', '.join(own)}"
                    if own
                    else f" (target {target.name!r} has no options of its own)"
                )
            )
        own[name].check(value, f"target {target.name!r}")
    return target.configured(options)


def _check_selection(graph: Graph, layers: LayerSelection) -> None:
    """Refuse `layers` names (and classes) that match no layer of the model: a typo would
    otherwise quantize nothing, silently."""
    if layers is None or callable(layers):
        return
    known = {v for op in graph.ops() for v in (op.meta.get("layer"), op.meta.get("class"), op.name) if v}
    wanted = [x if isinstance(x, str) else getattr(x, "__name__", repr(x)) for x in layers]
    unknown = [name for name in wanted if name not in known]
    if not unknown:
        return
    named: dict[str, str] = {}
    for op in graph.ops():
        if op.meta.get("layer"):
            named.setdefault(op.meta["layer"], op.meta.get("class", op.type))
    shown = ", ".join(f"{n} ({c})" for n, c in list(named.items())[:8])
    raise OptionError(
        f"quantize_model(layers=...): no layer of model {graph.name!r} is named or of class "
        f"{', '.join(map(repr, unknown))}; its layers: {shown}"
        + (f" and {len(named) - 8} more" if len(named) > 8 else "")
    )


def _selector(layers: LayerSelection) -> Callable[[Op], bool] | None:
    if layers is None or callable(layers):
        return layers
    names = {x for x in layers if isinstance(x, str)}
    classes = {x.__name__ for x in layers if isinstance(x, type)}

    def selected(op: Op) -> bool:
        layer = op.meta.get("layer", "")
        return layer in names or op.meta.get("class") in names | classes or op.name in names

    return selected
