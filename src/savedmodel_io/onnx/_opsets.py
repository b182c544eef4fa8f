"""The exporter's opsets and version (part of the on-disk cache key); no onnx import."""

from __future__ import annotations

__all__ = ["COMPLEX_PAIRS", "DEFAULT_OPSET", "EXPORTER_VERSION", "MIN_OPSET", "OUTPUT_KEYS"]

DEFAULT_OPSET = 20
MIN_OPSET = 15
# Part of the on-disk cache key: bump when the exported graphs change.
EXPORTER_VERSION = "4"
# Metadata property listing the signature's output keys, in graph output order (read by the
# backend from a cached file without importing onnx).
OUTPUT_KEYS = "savedmodel_io.output_keys"
# Metadata property naming the complex inputs and outputs given as (real, imaginary) pairs in a
# trailing axis of 2 (``complex_pairs=True``): {"inputs": [keys], "outputs": [keys]}.
COMPLEX_PAIRS = "savedmodel_io.complex_pairs"
