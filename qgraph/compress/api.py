"""`prune` and `cluster`: a Keras model -> a trainable Keras 3 model whose weights keep a
constraint while it fine-tunes; `qgraph.compile` writes it as it is (no strip step).

    pruned = qgraph.prune(model, sparsity=0.5)          # masks update during fit by themselves
    pruned.compile(...); pruned.fit(...)
    pc = qgraph.cluster(pruned, clusters=8, preserve_sparsity=True)
    pcqat = qgraph.quantize_model(pc)                    # keeps both (PCQAT)
    qgraph.compile(pcqat, output="m.tflite")             # int8; the report checks zeros and clusters
"""

from __future__ import annotations

from typing import Any

from qgraph.compress.constraints import INITS, SCHEDULES, Clustering, Pruning
from qgraph.errors import OptionError
from qgraph.qat import LayerSelection, _selector


def prune(
    model: Any,
    sparsity: float | None = None,
    *,
    schedule: str = "constant",
    begin_step: int = 0,
    end_step: int = -1,
    frequency: int = 100,
    initial_sparsity: float = 0.0,
    block: tuple[int, int] = (1, 1),
    m_by_n: tuple[int, int] | None = None,
    layers: LayerSelection = None,
) -> Any:
    """Return a trainable Keras 3 model whose Conv, Dense, Embedding and attention kernels are
    pruned by magnitude (depthwise kernels only when `layers` names them).

    - `sparsity`: the fraction of each kernel set to zero (default 0.5; at least this many).
    - `schedule`: "constant" prunes to `sparsity` at `begin_step`; "polynomial" ramps from
      `initial_sparsity` to `sparsity` between `begin_step` and `end_step` (needed). Masks are
      recomputed every `frequency` training steps while `fit` runs; no callback is needed.
    - `block` = (rows, cols): prune Dense weights in blocks ((1, 16) for TFLite's sparse int8
      kernel); `m_by_n` = (2, 4): keep 2 of every 4 weights along the input channel.
    - `layers`: names, classes, or a predicate on the IR op, as `quantize_model` takes.
    BatchNorm stays a live Keras layer while it fine-tunes (its statistics follow the pruned
    weights, as in tfmot); `qgraph.compile` and `quantize_model` fold it afterwards.
    """
    if m_by_n is not None:
        m, n = (int(v) for v in m_by_n)
        if not 0 < m < n:
            raise OptionError(f"m_by_n={tuple(m_by_n)!r}: keep m of every n weights, with 0 < m < n")
        if sparsity is not None and abs(sparsity - (n - m) / n) > 1e-6:
            raise OptionError(
                f"m_by_n={(m, n)} sets sparsity {(n - m) / n}; leave sparsity out (got {sparsity})"
            )
        sparsity = (n - m) / n
    sparsity = 0.5 if sparsity is None else float(sparsity)
    if not 0.0 <= sparsity < 1.0:
        raise OptionError(f"sparsity={sparsity} is not supported; choose a fraction in [0, 1)")
    if schedule not in SCHEDULES:
        raise OptionError(
            f"schedule={schedule!r} is not a pruning schedule; choose one of {', '.join(SCHEDULES)}"
        )
    if schedule == "polynomial" and end_step <= begin_step:
        raise OptionError(
            f"schedule='polynomial' needs end_step > begin_step (got {begin_step} and {end_step})"
        )
    if int(frequency) < 1:
        raise OptionError(f"frequency={frequency}: the masks are updated every `frequency` steps, at least 1")
    if len(tuple(block)) != 2 or min(int(b) for b in block) < 1:
        raise OptionError(f"block={block!r}: give (rows, cols), both at least 1")
    pruning = Pruning(
        sparsity,
        schedule,
        int(begin_step),
        int(end_step),
        int(frequency),
        float(initial_sparsity),
        tuple(block),  # type: ignore[arg-type]
        None if m_by_n is None else (m, n),
    )
    return _constrained(model, "prune", {"pruning": pruning, "select": _selector(layers)}, "pruned")


def cluster(
    model: Any,
    clusters: int = 16,
    *,
    init: str = "kmeans++",
    per_channel: bool = False,
    preserve_sparsity: bool = False,
    layers: LayerSelection = None,
) -> Any:
    """Return a trainable Keras 3 model whose Conv, Dense, Embedding and attention kernels take
    at most `clusters` distinct values (per output channel with `per_channel`); depthwise
    kernels only when `layers` names them.

    - `init`: where the centroids start: "kmeans++" (k-means++ seeding, as tfmot), "linear",
      "density" (quantiles), "random".
    - Training re-assigns every weight to its nearest centroid each step; the centroids train
      (gradients summed per cluster) and the latent weights train straight through.
    - `preserve_sparsity`: a pruned model keeps its zeros; one of the clusters is pinned at 0.
    BatchNorm stays a live Keras layer while it fine-tunes. Folding it afterwards scales each
    output channel, so a per-tensor set of centroids becomes one set per channel (still at
    most `clusters` values in each channel, as the int8 file counts them).
    """
    if not 2 <= int(clusters) <= 256:
        raise OptionError(f"clusters={clusters} is not supported; choose 2 to 256 (int8 has 256 values)")
    if init not in INITS:
        raise OptionError(f"init={init!r} is not a centroid initialization; choose one of {', '.join(INITS)}")
    clustering = Clustering(int(clusters), bool(per_channel), 0, bool(preserve_sparsity), init)
    return _constrained(
        model, "cluster", {"clustering": clustering, "select": _selector(layers)}, "clustered"
    )


def _constrained(model: Any, mode: str, options: dict[str, Any], suffix: str) -> Any:
    import qgraph
    from qgraph.emit.keras import to_keras
    from qgraph.pipeline import PassContext, PassManager
    from qgraph.targets import get_target

    graph = qgraph.load(model)
    ctx = PassContext(get_target("cpu").configured({}), mode, options)
    PassManager.from_plugins().run(graph, ctx, phases=("import", "optimize", "compress"))
    out = to_keras(graph, name=f"{graph.name}_{suffix}", constraints=True)
    out.qgraph_report = ctx.records  # what the passes did, per layer
    return out
