"""Lowerings of Keras 3 operation nodes: `keras.ops.*` calls in a functional model (`x + 3.0`)."""

from __future__ import annotations
