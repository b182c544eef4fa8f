"""The exporter's opsets and version (part of the on-disk cache key); no onnx import."""

from __future__ import annotations

__all__ = ["BFLOAT16_AS_FLOAT32", "COMPLEX_PAIRS", "DEFAULT_OPSET", "EXPORTER_VERSION", "MIN_OPSET", "OUTPUT_KEYS"]

DEFAULT_OPSET = 20
MIN_OPSET = 15
# Part of the on-disk cache key: bump when the exported graphs change.
EXPORTER_VERSION = "5"
# Metadata property listing the signature's output keys, in graph output order (read by the
# backend from a cached file without importing onnx).
OUTPUT_KEYS = "savedmodel_io.output_keys"
# Metadata property naming the complex inputs and outputs given as (real, imaginary) pairs in a
# trailing axis of 2 (``complex_pairs=True``): {"inputs": [keys], "outputs": [keys]}.
COMPLEX_PAIRS = "savedmodel_io.complex_pairs"
# Metadata property naming the bfloat16 inputs and outputs given as float32 (``bfloat16_as_float32=True``:
# onnxruntime's Python API feeds and returns no bfloat16 arrays): {"inputs": [keys], "outputs": [keys]}.
BFLOAT16_AS_FLOAT32 = "savedmodel_io.bfloat16_as_float32"
