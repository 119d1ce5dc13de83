"""Where the channels are in the IR's weights, which use TFLite's layout: CONV_2D filters
are (out, H, W, in), DEPTHWISE_CONV_2D (1, H, W, in * multiplier), FULLY_CONNECTED (out, in)."""

from __future__ import annotations

import numpy as np

#: the output-channel axis of each op's weights (per-axis quantization, BN folding).
OUTPUT_CHANNEL_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}
#: the input-channel axis (folding a per-channel scale of the op's input into its weights).
INPUT_CHANNEL_AXIS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 1}


def scale_channels(w: np.ndarray, scale: np.ndarray, axis: int, repeat: int = 1) -> np.ndarray:
    """`w` times a per-channel `scale` along `axis` (each value repeated `repeat` times, for a
    depthwise multiplier), computed in float64 and rounded once to float32."""
    shape = [1] * w.ndim
    shape[axis] = -1
    return (w.astype(np.float64) * np.repeat(np.asarray(scale, np.float64), repeat).reshape(shape)).astype(
        np.float32
    )
