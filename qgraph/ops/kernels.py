"""Helpers the built-in ops' Keras kernels share. Keras is imported when a kernel first runs,
not when the registry is read, so reading op facts costs no TensorFlow import."""

from __future__ import annotations

from typing import Any


def keras_ops() -> Any:
    from keras import ops

    return ops


def apply_fused(y: Any, name: str) -> Any:
    """Apply a TFLite fused activation."""
    ops = keras_ops()
    if name == "NONE":
        return y
    if name == "RELU":
        return ops.relu(y)
    if name == "RELU6":
        return ops.relu6(y)
    if name == "RELU_N1_TO_1":
        return ops.clip(y, -1.0, 1.0)
    raise ValueError(f"unknown fused activation {name!r}")


def padding(attrs: dict) -> str:
    return attrs["padding"].lower()
