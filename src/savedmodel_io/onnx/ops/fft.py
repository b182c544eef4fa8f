"""Fourier transforms: every TensorFlow FFT op has a complex input or output, which ONNX cannot hold."""

from __future__ import annotations

from savedmodel_io.onnx.ops._registry import inexpressible

COMPLEX = "ONNX has no complex tensors (its DFT works on real/imaginary pairs in a trailing axis)"

inexpressible(COMPLEX, *(f"{pre}{kind}{dims}" for pre in ("", "Batch") for kind in ("FFT", "IFFT")
                         for dims in ("", "2D", "3D")),
              "FFTND", "IFFTND", *(f"{kind}{dims}" for kind in ("RFFT", "IRFFT") for dims in ("", "2D", "3D", "ND")))
