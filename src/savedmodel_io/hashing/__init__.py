"""Checksums and fingerprints used by TensorFlow files: pure Python plus optional C accelerators."""
