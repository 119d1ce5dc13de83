"""Weight arithmetic in the IR's layout (TFLite's: CONV_2D filters (out, H, W, in),
DEPTHWISE_CONV_2D (1, H, W, in * multiplier), FULLY_CONNECTED (out, in)). Which axis is
which channel is an op fact: `OpDef.output_channel_axis` / `input_channel_axis`."""

from __future__ import annotations

import numpy as np


def scale_channels(w: np.ndarray, scale: np.ndarray, axis: int, repeat: int = 1) -> np.ndarray:
    """`w` times a per-channel `scale` along `axis` (each value repeated `repeat` times, for a
    depthwise multiplier), computed in float64 and rounded once to float32."""
    shape = [1] * w.ndim
    shape[axis] = -1
    return (w.astype(np.float64) * np.repeat(np.asarray(scale, np.float64), repeat).reshape(shape)).astype(
        np.float32
    )
