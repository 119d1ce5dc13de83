"""The one place that imports the generated TFLite schema module.

The object API (`ModelT`, `SubGraphT`, `TensorT`, `OperatorT`, ...) ships in the
`ai-edge-litert` wheel and in `tensorflow`; if its home moves, only this file changes.
"""

try:
    from ai_edge_litert import schema_py_generated as S
except ImportError:  # pragma: no cover - older wheels
    from tensorflow.lite.python import schema_py_generated as S

__all__ = ["S"]
