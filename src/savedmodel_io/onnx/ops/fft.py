"""Fourier transforms on (real, imaginary) pairs (see ``complex.py``).

TensorFlow's semantics (graph/ops/fft.py; tensorflow/tensorflow tensorflow/core/kernels/fft_ops.cc):
the transform runs over the innermost 1-3 axes (FFTND: the ``axes`` given, successive and
ending at the last); a real transform's ``fft_length`` crops longer axes, an inverse real
transform reads ``fft_length // 2 + 1`` bins of the innermost axis (the imaginary parts of
its first bin, and of its last when the length is even, do not count); FFTND/IFFTND crop or
zero-pad each axis to ``fft_length``; inverse transforms scale by 1 / (number of points).

A transform along one axis of a length known at export is a MatMul by a constant DFT matrix
(computed in float64, rounded once): onnxruntime's DFT op took 8-11 ms for the 784 512-point
real transforms of a 1 s log-mel spectrogram at batch 8, where the MatMul took 1.4 ms (MLAS
does the n^2 work faster than its DFT does the n log n), and its DFT of lengths other than
powers of two is off by up to 1e-4 relative at 1000 points. Lengths known only at run time,
and those whose matrix would pass :data:`MAX_MATRIX` elements (2046 points for a real
transform, 1024 for a complex one), are ONNX ``DFT`` (opset 17), and refused below it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import cast, const_ints, need_rank, squeeze, unsqueeze
from savedmodel_io.onnx.ops.complex import as_complex, is_complex, pair, real_dtype
from savedmodel_io.proto import DataType

MAX_MATRIX = 1 << 22  # elements of one constant DFT matrix (16 MiB in float32)

_RANKS = {"": 1, "2D": 2, "3D": 3}


def _use_dft(g: Graph, n: int | None, elements: int) -> bool:
    """Whether a transform of ``n`` points is ONNX DFT (else a MatMul of ``elements`` constants)."""
    if n is not None and elements <= MAX_MATRIX:
        return False
    if g.model.opset < 17:
        what = "an unknown number of" if n is None else f"{n}"
        raise ExportError(f"a Fourier transform of {what} points needs ONNX DFT (opset 17 or newer) "
                          f"beyond {MAX_MATRIX} DFT-matrix elements")
    return True


# -- constant matrices (float64, rounded once to the parts' type) --------------------------------

def _angles(rows: int, cols: int, n: int) -> np.ndarray:
    """2 pi (j k mod n) / n for j < rows, k < cols: exact phases before the cos/sin."""
    jk = (np.arange(rows, dtype=np.int64)[:, None] * np.arange(cols, dtype=np.int64)[None, :]) % n
    return 2 * np.pi * jk / n


@lru_cache(maxsize=4)
def _c2c_matrix(n: int, inverse: bool, dt: str) -> np.ndarray:
    """[2n, 2n]: pairs (re, im) of n points times it give the DFT's pairs."""
    a = _angles(n, n, n)
    c, s = np.cos(a), np.sin(a) * (-1 if inverse else 1)
    w = np.empty((n, 2, n, 2))
    w[:, 0, :, 0], w[:, 0, :, 1] = c, -s  # re_in * e^{-ia}
    w[:, 1, :, 0], w[:, 1, :, 1] = s, c  # im_in * i e^{-ia}
    if inverse:
        w /= n
    return w.reshape(2 * n, 2 * n).astype(dt)


@lru_cache(maxsize=4)
def _r2c_matrix(n: int, dt: str) -> np.ndarray:
    """[n, 2m] (m = n // 2 + 1): n real points times it give the first m bins' pairs."""
    m = n // 2 + 1
    a = _angles(n, m, n)
    w = np.stack([np.cos(a), -np.sin(a)], -1)
    return w.reshape(n, 2 * m).astype(dt)


@lru_cache(maxsize=4)
def _c2r_matrix(n: int, dt: str) -> np.ndarray:
    """[2m, n]: the pairs of m = n // 2 + 1 bins times it give the n real points of the inverse.
    Bins 1 .. m-1 stand for their mirror images too (weight 2) except the last when n is even;
    sin is 0 on the first and that last bin, so their imaginary parts do not count."""
    m = n // 2 + 1
    a = _angles(m, n, n)
    weight = np.full(m, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    w = np.stack([np.cos(a), -np.sin(a)], 1) * weight[:, None, None] / n
    return w.reshape(2 * m, n).astype(dt)


# -- one axis ------------------------------------------------------------------------------------

def _fit(g: Graph, x: Val, axis: int, n: int) -> Val:
    """``x`` cropped or zero-padded to ``n`` along ``axis``."""
    r = need_rank(x)
    dim = x.shape[axis] if x.shape is not None else None
    if dim == n:
        return x
    starts, ends, axes = (g.const(np.asarray(v, np.int64)) for v in ([0], [n], [axis]))
    if isinstance(dim, int) and dim > n:
        return g.op1("Slice", x, starts, ends, axes)
    zero = g.const(np.zeros(1, x.dtype))
    if isinstance(dim, int):
        pads = [0] * (2 * r)
        pads[r + axis] = n - dim
        return g.op1("Pad", x, g.const(np.asarray(pads, np.int64)), zero)
    cut = g.op1("Slice", x, starts, ends, axes)
    have = g.op1("Shape", cut, start=axis, end=axis + 1)
    more = g.op1("Sub", g.const(np.asarray([n], np.int64)), have)
    pads = g.op1("Concat", g.const(np.zeros(r + axis, np.int64)), more,
                 g.const(np.zeros(r - axis - 1, np.int64)), axis=0)
    out = g.op1("Pad", cut, pads, zero)
    if x.shape is not None:
        g.refine(out, tuple(n if i == axis else d for i, d in enumerate(x.shape)))
    return out


def _dft(g: Graph, x: Val, axis: int, *, inverse: bool, onesided: bool, length: int | None = None) -> Val:
    """ONNX DFT along physical ``axis`` of ``x`` (a leading batch axis added for rank-2 input)."""
    batch = need_rank(x) == 2
    if batch:
        x, axis = unsqueeze(g, x, [0]), axis + 1
    n = None if length is None else g.const(np.asarray(length, np.int64))
    attrs: dict[str, Any] = {"inverse": int(inverse), "onesided": int(onesided)}
    if g.model.opset >= 20:
        out = g.op1("DFT", x, n, g.const(np.asarray(axis, np.int64)), **attrs)
    else:
        out = g.op1("DFT", x, n, axis=axis, **attrs)
    return squeeze(g, out, [0]) if batch else out


def _matmul_last(g: Graph, x: Val, w: np.ndarray, lead: int, tail: list[int]) -> Val:
    """x's last axis (or last two, flattened) times ``w``, reshaped to ``lead`` kept axes + ``tail``."""
    if need_rank(x) != lead + 1:
        x = g.op1("Reshape", x, g.const(np.asarray([0] * lead + [w.shape[0]], np.int64)))
    y = g.op1("MatMul", x, g.const(w))
    if tail != [w.shape[1]]:
        y = g.op1("Reshape", y, g.const(np.asarray([0] * lead + tail, np.int64)))
    return y


def c2c(g: Graph, p: Val, axis: int, n: int | None, inverse: bool) -> Val:
    """The (inverse) DFT of pair tensor ``p`` along logical ``axis`` of ``n`` points (None: unknown)."""
    if n == 0:
        return p
    if _use_dft(g, n, 4 * (n or 0) ** 2):
        return _dft(g, p, axis, inverse=inverse, onesided=False)
    assert n is not None
    r = need_rank(p)
    last = r - 2
    if axis != last:
        perm = [i for i in range(r - 1) if i != axis] + [axis, r - 1]
        p = g.op1("Transpose", p, perm=perm)
    out = _matmul_last(g, p, _c2c_matrix(n, inverse, p.dtype.name), last, [n, 2])
    if axis != last:
        back = [0] * r
        for i, src in enumerate(perm):
            back[src] = i
        out = g.op1("Transpose", out, perm=back)
    return out


def r2c(g: Graph, x: Val, n: int) -> Val:
    """The first n // 2 + 1 bins (pairs) of the DFT of real ``x``'s last axis (n points)."""
    r = need_rank(x)
    m = n // 2 + 1 if n else 0
    if n == 0:
        return g.op1("Concat", unsqueeze(g, x, [-1]), unsqueeze(g, x, [-1]), axis=-1)
    if _use_dft(g, n, n * 2 * m):
        return _dft(g, unsqueeze(g, x, [-1]), r - 1, inverse=False, onesided=True)
    return _matmul_last(g, x, _r2c_matrix(n, x.dtype.name), r - 1, [m, 2])


def c2r(g: Graph, p: Val, n: int) -> Val:
    """The n real points of the inverse DFT whose first n // 2 + 1 bins are ``p``'s last axis."""
    r = need_rank(p)
    if n == 0:
        return squeeze(g, g.op1("Slice", p, *(g.const(np.asarray(v, np.int64)) for v in ([0], [1], [-1]))), [-1])
    m = n // 2 + 1
    if _use_dft(g, n, 2 * m * n):
        return squeeze(g, _dft(g, p, r - 2, inverse=True, onesided=True, length=n), [-1])
    return _matmul_last(g, p, _c2r_matrix(n, p.dtype.name), r - 2, [n])


# -- the ops -------------------------------------------------------------------------------------

def _rank(op: str) -> int:
    return _RANKS[op[-2:]] if op[-2:] in _RANKS else 1


def _lengths(v: Val, rank: int) -> list[int]:
    lengths = const_ints(v, "fft_length")
    if len(lengths) != rank:
        raise ExportError(f"fft_length must have shape [{rank}]")
    if any(n < 0 for n in lengths):
        raise ExportError(f"fft_length must not be negative, got {lengths}")
    return lengths


def _axes(node: Any, rank: int, rank_in: int, axes_in: Val | None) -> list[int]:
    """The transformed (logical) axes: the innermost ``rank``, or FFTND's ``axes``."""
    if rank_in < rank:
        raise ExportError(f"the input must have rank {rank} or more, it has rank {rank_in}")
    if axes_in is None:
        return list(range(rank_in - rank, rank_in))
    axes = [a + rank_in if a < 0 else a for a in const_ints(axes_in, "axes")]
    if not axes or axes != list(range(axes[0], axes[0] + len(axes))) or axes[-1] != rank_in - 1:
        raise ExportError("axes must be successive, ascending and end at the last axis")
    return axes


def _complex_input(x: Val, op: str) -> Val:
    if not is_complex(x):
        raise ExportError(f"{op} of {x.dtype} values")
    return x


_C2C = [f"{pre}{kind}{dims}" for pre in ("", "Batch") for kind in ("FFT", "IFFT") for dims in _RANKS]


@converter(*_C2C, "FFTND", "IFFTND", onnx="MatMul by a DFT matrix (DFT for unknown or long lengths), per axis", complex=True)
def fft(cx, node, ins):
    """Complex transforms; FFTND/IFFTND crop or zero-pad each axis to fft_length first."""
    g = cx.g
    x = _complex_input(ins[0], node.op)
    p = pair(g, x)
    nd = node.op.endswith("ND")
    inverse = node.op.startswith(("IFFT", "BatchIFFT"))
    r = need_rank(p) - 1
    if nd:
        axes = _axes(node, 0, r, ins[2])
        lengths = _lengths(ins[1], len(axes))
    else:
        axes = _axes(node, _rank(node.op), r, None)
        lengths = [p.shape[a] if isinstance(p.shape[a], int) else None for a in axes]
    for a, n in zip(axes, lengths):
        if nd:
            p = _fit(g, p, a, n)
        p = c2c(g, p, a, n, inverse)
    return as_complex(p, x.dtype)


def _crop(g: Graph, x: Val, axis: int, n: int) -> Val:
    """A real transform's input cut to ``n`` along ``axis`` (TensorFlow refuses shorter ones)."""
    dim = x.shape[axis] if x.shape is not None else None
    if isinstance(dim, int) and 0 < dim < n:
        raise ExportError(f"input dimension {axis} must have length of at least {n} but got: {dim}")
    return _fit(g, x, axis, n)


_REAL = [f"RFFT{d}" for d in _RANKS] + ["RFFTND"]
_INV_REAL = [f"IRFFT{d}" for d in _RANKS] + ["IRFFTND"]


@converter(*_REAL, onnx="MatMul by a DFT matrix (DFT, onesided, for unknown or long lengths), then per outer axis", complex=True)
def rfft(cx, node, ins):
    g = cx.g
    x = ins[0]
    if is_complex(x):
        raise ExportError(f"{node.op} of complex values")
    nd = node.op == "RFFTND"
    r = need_rank(x)
    axes = _axes(node, 0 if nd else _rank(node.op), r, ins[2] if nd else None)
    lengths = _lengths(ins[1], len(axes))
    out_dt = dtypes.to_numpy(node.attr.get("Tcomplex", DataType.DT_COMPLEX64))
    x = cast(g, x, real_dtype(out_dt))
    for a, n in zip(axes, lengths):
        x = _crop(g, x, a, n)
    p = r2c(g, x, lengths[-1])
    for a, n in zip(axes[:-1], lengths[:-1]):
        p = c2c(g, p, a, n, False)
    return as_complex(p, out_dt)


@converter(*_INV_REAL, onnx="per outer axis, then MatMul by a DFT matrix (DFT, onesided, inverse, for unknown or long lengths)", complex=True)
def irfft(cx, node, ins):
    g = cx.g
    x = _complex_input(ins[0], node.op)
    p = pair(g, x)
    nd = node.op == "IRFFTND"
    r = need_rank(p) - 1
    axes = _axes(node, 0 if nd else _rank(node.op), r, ins[2] if nd else None)
    lengths = _lengths(ins[1], len(axes))
    for i, (a, n) in enumerate(zip(axes, lengths)):
        p = _crop(g, p, a, n // 2 + 1 if i == len(axes) - 1 else n)
    for a, n in zip(axes[:-1], lengths[:-1]):
        p = c2c(g, p, a, n, True)
    out = c2r(g, p, lengths[-1])
    return cast(g, out, dtypes.to_numpy(node.attr.get("Treal", DataType.DT_FLOAT)))
