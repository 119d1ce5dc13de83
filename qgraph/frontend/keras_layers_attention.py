"""Lowerings of the normalization, attention and tensor-shuffling layers (conventions in `lowering.py`)."""

from __future__ import annotations
