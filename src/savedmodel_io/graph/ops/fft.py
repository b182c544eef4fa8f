"""Fast Fourier transforms: FFT/IFFT, RFFT/IRFFT in 1-3 dimensions and their N-D forms.

Shapes and validation follow tensorflow/tensorflow tensorflow/core/kernels/fft_ops.cc
(FFTBase, FFTNBase): the transform runs over the innermost dimensions; a real transform's
``fft_length`` crops longer input dimensions but may not exceed shorter ones (the Python
wrappers pad first), and an inverse real transform reads ``fft_length // 2 + 1`` bins of
the innermost dimension. Inverse transforms scale by 1 / (number of points).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, ints, np_dtype

_RANKS = {"": 1, "2D": 2, "3D": 3}


def _lengths(node, value, rank: int) -> list[int]:
    v = np.asarray(value)
    if v.ndim != 1 or v.shape[0] != rank:
        raise bad(node, f"fft_length must have shape [{rank}]")
    lengths = ints(v)
    for i, n in enumerate(lengths):
        if n < 0:
            raise bad(node, f"fft_length[{i}] must >= 0, but got: {n}")
    return lengths


def _transform(node, x: np.ndarray, axes: list[int], lengths: list[int] | None,
               forward: bool, real: bool) -> np.ndarray:
    """One complex, real-to-complex or complex-to-real transform over ``axes``."""
    out_shape = list(x.shape)
    if lengths is not None and real:
        for i, (ax, n) in enumerate(zip(axes, lengths)):
            inner = i == len(axes) - 1
            need = n // 2 + 1 if (not forward and inner) else n
            if x.shape[ax] != 0 and x.shape[ax] < need:
                raise bad(node, f"Input dimension {ax} must have length of at least {need} but "
                                f"got: {x.shape[ax]}")
            out_shape[ax] = n // 2 + 1 if (forward and inner and n != 0) else n
    elif lengths is not None:
        for ax, n in zip(axes, lengths):
            out_shape[ax] = n
    if real:
        out_dtype = np_dtype(node.attr["Tcomplex" if forward else "Treal"])
    else:
        out_dtype = x.dtype
    check_size(node, out_shape, out_dtype.itemsize)
    if x.size == 0 or 0 in out_shape:
        return np.zeros(out_shape, out_dtype)
    if real and lengths is not None:
        # Crop what the transform does not read (TF's DuccFftImpl clamps the input shape).
        crop = [slice(None)] * x.ndim
        for i, (ax, n) in enumerate(zip(axes, lengths)):
            limit = n // 2 + 1 if (not forward and i == len(axes) - 1) else n
            crop[ax] = slice(0, limit)
        x = x[tuple(crop)]
    # Transform in double precision and round once: closer to the exact transform than a
    # single-precision FFT (TF's float32 results differ from it by their own rounding only).
    x = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    if real and forward:
        out = np.fft.rfftn(x, s=lengths, axes=axes)
    elif real:
        out = np.fft.irfftn(x, s=lengths, axes=axes)
    elif forward:
        out = np.fft.fftn(x, s=lengths, axes=axes)
    else:
        out = np.fft.ifftn(x, s=lengths, axes=axes)
    return out.astype(out_dtype)


def _fixed_rank(node, inputs, rank: int, forward: bool, real: bool):
    x = np.asarray(inputs[0])
    if x.ndim < rank:
        raise bad(node, f"Input must have rank of at least {rank} but got: {list(x.shape)}")
    lengths = _lengths(node, inputs[1], rank) if real else None
    axes = list(range(x.ndim - rank, x.ndim))
    return _transform(node, x, axes, lengths, forward, real)


for _suffix, _rank in _RANKS.items():
    for _name, _fwd, _real in (("FFT", True, False), ("IFFT", False, False),
                               ("RFFT", True, True), ("IRFFT", False, True)):
        def _run(node, inputs, ctx, _rank=_rank, _fwd=_fwd, _real=_real):
            return _fixed_rank(node, inputs, _rank, _fwd, _real)
        kernel(_name + _suffix)(_run)


for _name, _rank, _fwd in (("BatchFFT", 1, True), ("BatchIFFT", 1, False),
                           ("BatchFFT2D", 2, True), ("BatchIFFT2D", 2, False),
                           ("BatchFFT3D", 3, True), ("BatchIFFT3D", 3, False)):
    # The complex64-only names of TF 0.x graphs.
    def _run_batch(node, inputs, ctx, _rank=_rank, _fwd=_fwd):
        return _fixed_rank(node, inputs, _rank, _fwd, False)
    kernel(_name)(_run_batch)


@kernel("FFTND", "IFFTND", "RFFTND", "IRFFTND")
def fft_nd(node, inputs, ctx):
    """Transforms over successive innermost ``axes``; fft_length crops or zero-pads (complex)."""
    # fft_ops.cc (FFTNBase): the axes must be successive, ascending and end at the last axis.
    x = np.asarray(inputs[0])
    axes_in = ints(inputs[2])
    rank = len(axes_in)
    if x.ndim < rank:
        raise bad(node, f"Input must have rank of at least {rank} but got: {list(x.shape)}")
    if rank == 0:
        raise bad(node, "axes must not be empty")
    axes = [a + x.ndim if a < 0 else a for a in axes_in]
    for prev, cur in zip(axes, axes[1:]):
        if prev + 1 != cur:
            raise bad(node, "axes must be successive and ascending.")
    if axes[-1] != x.ndim - 1:
        raise bad(node, "The last axis to perform transform on must be -1.")
    lengths = _lengths(node, inputs[1], rank)
    forward = node.op in ("FFTND", "RFFTND")
    return _transform(node, x, axes, lengths, forward, node.op.startswith(("RFFT", "IRFFT")))
