"""Per-layer error of a .tflite against its Keras model (`qgraph.verify`), and the layers
whose float fallback recovers the most (`suggest`). See docs/debugging.md."""

from qgraph.debugging.compare import LayerError, Verification, verify

__all__ = ["LayerError", "Verification", "verify"]
