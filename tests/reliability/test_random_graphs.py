"""Property test (issue 13): random small graphs (tests/reliability/random_graphs.py: conv,
depthwise, dense, pools, BatchNorm, activations, Add, Concatenate; random shapes, strides,
dilations, padding) compile in float and int8, and match Keras in LiteRT.

The bounds, measured on graphs 0-399 (`QGRAPH_RANDOM_GRAPHS=400` runs them; CI runs 0-49):
- float, on held-out samples: max |LiteRT - Keras| / max |Keras| < 1e-4; measured <= 4e-6
  (summation order, BatchNorm folding). A wrong layout, padding or fused activation gives
  errors of order 1 (a kernel read upside down: 3e-2 to 2).
- int8, SQNR against Keras on the held-out samples >= 10 dB: a floor for wrecked files; the
  400 graphs measure 13-56 dB (22-52 dB for graphs 0-49).
- int8 against TFLiteConverter's full-int8 file of the same model and calibration samples:
  qgraph's SQNR >= min(converter's, 40 dB) - 6 dB on the calibration samples or on the
  held-out ones. A bug in a scale, a zero point, a bias or a requantization shows on both sets;
  what differs between the files on one set only is not a bug. On most graphs the two measure
  within 3 dB; qgraph trails by more than 6 dB on one set for 3 of 400 graphs: a held-out sample
  beyond the range seen in 32 calibration samples, which qgraph clips where the converter gives
  the tensor the wider range of the ADD it feeds (graphs 246, 286: 6-11 dB), and per-channel
  shifts rounded alike on every element where an ADD's input and output scales happen to match
  (graph 71: 8 dB on the calibration samples, 1 dB on the held-out ones). qgraph leads by up
  to 20 dB where the converter's ranges are off (graph 12); those even vary between two
  conversions of one model (15-39 dB on graph 115). Above 40 dB both are near int8's resolution
  and differ by rounding choices and qgraph's per-tensor Dense weights (5 dB at 47 dB, graph 5).
- across the graphs, the median of qgraph's SQNR less the converter's (both capped at 40 dB, on
  the calibration samples) >= -1 dB: measured 0.0 dB (the files quantize most graphs alike). A
  small error every graph shares moves it where no single graph's bound fails: int8 biases 10%
  off in every layer give -5.4 dB (graphs 0-29).
A failure names its seed and lists the layers drawn.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import qgraph
from qgraph.testing import converter_int8, max_rel_err, run_litert, sqnr_db
from tests.reliability.random_graphs import describe, random_model

SEEDS = range(int(os.environ.get("QGRAPH_RANDOM_GRAPHS", "50")))
FLOAT_REL_ERR = 1e-4
INT8_FLOOR_DB = 10.0
CONVERTER_MARGIN_DB, CONVERTER_CEILING_DB = 6.0, 40.0
MEDIAN_LEAD_DB = -1.0
#: seed -> qgraph's SQNR less the converter's, capped, on the calibration samples (for the median).
LEADS: dict[int, float] = {}


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_matches_keras_in_float_and_int8(seed):
    model, calibration, held_out = random_model(seed)
    layers = f"seed {seed}, layers:\n{describe(model)}"

    float_file = qgraph.compile(model, quantize="float").tflite
    err = max_rel_err(run_litert(float_file, held_out), np.asarray(model(held_out)))
    assert err < FLOAT_REL_ERR, f"float: max relative error {err:.2e}; {layers}"

    ours = qgraph.compile(model, quantize="int8", representative_data=calibration).tflite
    theirs = converter_int8(model, calibration)
    said = []
    for name, x in (("held-out", held_out), ("calibration", calibration)):
        reference = np.asarray(model(x))
        sqnr, converter = (sqnr_db(run_litert(f, x), reference) for f in (ours, theirs))
        said.append((sqnr, min(converter, CONVERTER_CEILING_DB) - CONVERTER_MARGIN_DB))
        LEADS[seed] = min(sqnr, CONVERTER_CEILING_DB) - min(converter, CONVERTER_CEILING_DB)
        if name == "held-out":
            assert sqnr >= INT8_FLOOR_DB, f"int8: SQNR {sqnr:.1f} dB < {INT8_FLOOR_DB} dB; {layers}"
    assert any(sqnr >= want for sqnr, want in said), (
        "int8: SQNR (held-out, calibration samples) "
        f"{', '.join(f'{q:.1f} dB' for q, _ in said)}, more than {CONVERTER_MARGIN_DB} dB under "
        f"TFLiteConverter's file on both; {layers}"
    )


def test_qgraph_quantizes_the_graphs_as_well_as_the_converter():
    """Runs after the graphs above (same module, in order); skipped when some did not run."""
    if set(LEADS) != set(SEEDS):
        pytest.skip(f"{len(LEADS)} of {len(SEEDS)} random graphs ran")
    median = float(np.median(list(LEADS.values())))
    worst = sorted(LEADS, key=LEADS.__getitem__)[:5]
    assert median >= MEDIAN_LEAD_DB, (
        f"median lead over TFLiteConverter {median:.1f} dB; the worst graphs: "
        + ", ".join(f"{seed} ({LEADS[seed]:.1f} dB)" for seed in worst)
    )
