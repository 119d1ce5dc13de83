"""Quantization numerics, calibration data handling and range observers."""
