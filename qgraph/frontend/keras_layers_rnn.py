"""Lowerings of Embedding and the recurrent layers (conventions in `lowering.py`)."""

from __future__ import annotations
