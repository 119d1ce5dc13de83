"""The layers whose float fallback recovers the most, measured, not guessed: qgraph compiles
the model to int8 once as is and once per candidate with `keep_float=[candidate]`, runs each
file on the samples in LiteRT, and ranks the candidates by the output SQNR they gain. The
candidates are the layers that add the most noise (`own_db`), at most `max(5, 2 * count)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qgraph.debugging.capture import run_file, run_keras
from qgraph.debugging.metrics import ErrorStats, top1_agreement
from qgraph.errors import OptionError


@dataclass
class Suggestion:
    layer: str
    sqnr_db: float  # the model output's SQNR with this layer float
    gain_db: float  # over qgraph's all-int8 file for the same target and calibration
    baseline_db: float
    top1_agreement: float | None
    extra_bytes: int  # the file grows by this much
    target: str


def suggest_float_layers(
    model: Any,
    graph: Any,
    samples: list[np.ndarray],
    ranked: list,
    count: int,
    target: str,
    calibration: Any,
    names: tuple[list[str], list[str]],
) -> list[Suggestion]:
    """`names`: the model's input names and output layer names (to run qgraph's files)."""
    import qgraph
    from qgraph.passes.keep_float import float_refusal
    from qgraph.targets import get_target

    refusal = float_refusal(get_target(target))
    if refusal:
        raise OptionError(f"--suggest measures float fallbacks, but {refusal}")
    calibration = calibration if calibration is not None else (samples[0] if len(samples) == 1 else samples)
    reference = run_keras(model, samples)
    base = qgraph.compile(graph, target, "int8", representative_data=calibration)
    base_db, _ = _score(run_file(base.tflite, samples, *names), reference)
    tried: list[Suggestion] = []
    candidates = [e.layer for e in ranked if e.own_db < float("inf")][: max(5, 2 * count)]
    for layer in candidates:
        try:
            result = qgraph.compile(
                graph, target, "int8", representative_data=calibration, keep_float=[layer]
            )
        except OptionError:  # qgraph has no op of its own for this layer (a model input)
            continue
        sqnr, top1 = _score(run_file(result.tflite, samples, *names), reference)
        extra = len(result.tflite) - len(base.tflite)
        tried.append(Suggestion(layer, sqnr, sqnr - base_db, base_db, top1, extra, target))
    return sorted(tried, key=lambda s: -s.gain_db)[:count]


def _score(got: list[np.ndarray], reference: list[np.ndarray]) -> tuple[float, float | None]:
    """(SQNR of all outputs together, top-1 agreement of the first if it is class scores)."""
    stats = ErrorStats()
    for g, r in zip(got, reference, strict=True):
        stats.add(g, r)
    return stats.sqnr_db, top1_agreement(reference[0], got[0])
