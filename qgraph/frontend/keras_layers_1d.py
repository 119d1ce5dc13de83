"""Lowerings of the 1-D layers, cropping, transposed convolution and Normalization (conventions in `lowering.py`)."""

from __future__ import annotations
