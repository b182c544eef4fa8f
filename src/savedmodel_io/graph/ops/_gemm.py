"""Float32 GEMMs on Intel MKL's ``cblas_sgemm`` when the ``mkl`` extra is installed, else numpy.

The runtime's convolutions and dense layers are GEMMs (im2col, 1x1 and Winograd convolutions,
MatMul with its fused epilogue). numpy's wheels bring OpenBLAS; on the shapes these models
have, MKL's single-threaded sgemm is 1.0-1.5x faster (measured in bench/README.md), which is
what closes the gap to TensorFlow's oneDNN kernels. MKL is optional: ``matmul`` takes any
operands numpy's ``matmul`` takes and hands only float32 products it can describe to BLAS to
MKL (2-D ones, or stacks of them in one batched call; each matrix with one unit stride, the
output row-major and writable, nothing overlapping), everything else to numpy, so results
are the same within float32 rounding either way.

MKL is loaded from the ``mkl`` wheel's ``libmkl_rt`` (found through the package's file list,
never from an arbitrary search path) with its sequential threading layer: the runtime already
splits every big GEMM over its own threads (``graph/ops/_parallel.py``). If another library
loaded MKL first with a threaded layer, it is not used. ``SAVEDMODEL_IO_GEMM=numpy`` switches
it off (the reference the tests compare it with).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
from typing import Any

import numpy as np

__all__ = ["ACCELERATED", "BACKEND", "matmul"]

# cblas.h: CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112.
# mkl_service.h: MKL_THREADING_SEQUENTIAL = 1 (MKL_Set_Threading_Layer returns the layer in use).
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SEQUENTIAL = 1

# Below this many multiply-adds MKL is no faster: its per-call set-up (packing the right-hand
# side) and the ctypes call outweigh the gain (measured on ResNet50's Winograd products).
_MIN_MACS = 1 << 22


def _mkl_path() -> str | None:
    """libmkl_rt of the installed ``mkl`` distribution, or None."""
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    names = ("libmkl_rt.so", "mkl_rt.")  # Linux: lib/libmkl_rt.so.N; Windows: mkl_rt.N.dll
    for f in files:
        name = f.name
        if name.startswith(names[0]) or (sys.platform == "win32" and name.startswith(names[1])
                                         and name.endswith(".dll")):
            path = str(f.locate())
            if os.path.isfile(path):
                return path
    return None


def _load() -> tuple[Any, Any, str]:
    """(cblas_sgemm, cblas_sgemm_batch_strided or None, description), or (None, None, why)."""
    if os.environ.get("SAVEDMODEL_IO_GEMM", "auto") == "numpy":
        return None, None, "numpy's BLAS (SAVEDMODEL_IO_GEMM=numpy)"
    path = _mkl_path()
    if path is None:
        return None, None, "numpy's BLAS"
    try:
        lib = ctypes.CDLL(path)
        layer = lib.MKL_Set_Threading_Layer
        layer.restype = ctypes.c_int
        layer.argtypes = [ctypes.c_int]
        if layer(_SEQUENTIAL) != _SEQUENTIAL:
            return None, None, "numpy's BLAS (MKL already loaded with a threaded layer)"
        sgemm = lib.cblas_sgemm
    except (OSError, AttributeError) as exc:
        return None, None, f"numpy's BLAS (MKL could not be loaded: {exc})"
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    sgemm.restype = None
    sgemm.argtypes = [i] * 6 + [f, p, i, p, i, f, p, i]
    # mkl_cblas.h (MKL 2020 on): the same product over a batch of matrices at fixed strides.
    batched = getattr(lib, "cblas_sgemm_batch_strided", None)
    if batched is not None:
        batched.restype = None
        batched.argtypes = [i] * 6 + [f, p, i, i, p, i, i, f, p, i, i, i]
    try:
        version = importlib.metadata.version("mkl")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - found above
        version = "?"
    return sgemm, batched, f"MKL {version} (sequential)"


_sgemm, _sgemm_batch, BACKEND = _load()
#: True when float32 GEMMs run on MKL.
ACCELERATED = _sgemm is not None


def _layout(m: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) describing 2-D float32 ``m`` to BLAS, or None."""
    s0, s1 = m.strides
    r, c = m.shape
    if s1 == 4 and s0 % 4 == 0 and s0 // 4 >= max(c, 1):
        return _NO_TRANS, s0 // 4
    if s0 == 4 and s1 % 4 == 0 and s1 // 4 >= max(r, 1):
        return _TRANS, s1 // 4
    return None


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)``, on MKL for float32 products it can take: 2-D, or a
    stack of 2-D products with the same leading size (one batched call)."""
    if _sgemm is None or a.dtype != np.float32 or b.dtype != np.float32:
        return np.matmul(a, b, out=out)
    if a.ndim == b.ndim == 3 and a.shape[0] == b.shape[0]:
        return _stack(a, b, out)
    if a.ndim != 2 or b.ndim != 2:
        return np.matmul(a, b, out=out)
    return _matmul2(a, b, out)


def _stack(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """A stack of float32 products, in one MKL call when every operand steps by a fixed stride
    and the output matrices do not overlap; numpy otherwise."""
    batch, m, k = a.shape
    n = b.shape[2]
    if b.shape[1] != k or batch * m * n * k < _MIN_MACS:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((batch, m, n), np.float32)
    elif out.shape != (batch, m, n) or out.dtype != np.float32:
        return np.matmul(a, b, out=out)
    la, lb, lc = _layout(a[0]), _layout(b[0]), _layout(out[0])
    steps = [x.strides[0] for x in (a, b, out)]
    if la is None or lb is None or lc is None or lc[0] != _NO_TRANS or \
            any(st % 4 or st < 0 for st in steps) or \
            not _disjoint(batch, m, n, lc[1], steps[2] // 4):
        return np.matmul(a, b, out=out)
    if not _safe(a, b, out):
        return np.matmul(a, b, out=out)
    if _sgemm_batch is None:
        if m * n * k < _MIN_MACS:
            return np.matmul(a, b, out=out)
        for j in range(batch):
            _matmul2(a[j], b[j], out[j])
        return out
    if batch > 1 and steps[2] // 4 < m * lc[1]:
        # MKL's batched call wants the output matrices one after another; side-by-side ones
        # (attention's heads written into (tokens, heads, depth)) go through a stacked buffer
        stacked = np.empty((batch, m, n), np.float32)
        _stack(a, b, stacked)
        np.copyto(out, stacked)
        return out
    _sgemm_batch(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], steps[0] // 4,
                 b.ctypes.data, lb[1], steps[1] // 4, 0.0, out.ctypes.data, lc[1],
                 steps[2] // 4, batch)
    return out


def _safe(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """Whether MKL may take these buffers: aligned, ``out`` writable (numpy refuses a read-only
    one; MKL would write through it) and apart from the operands (numpy buffers an overlap)."""
    return a.flags.aligned and b.flags.aligned and out.flags.aligned and \
        out.flags.writeable and not (np.may_share_memory(out, a) or np.may_share_memory(out, b))


def _disjoint(batch: int, m: int, n: int, ld: int, step: int) -> bool:
    """Whether ``batch`` row-major (m, n) matrices with row stride ``ld``, ``step`` apart, share
    no element: one after another, or side by side within the rows."""
    return batch == 1 or step >= m * ld or (step >= n and step * (batch - 1) + n <= ld)


def _matmul2(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """One 2-D float32 product, on MKL when BLAS can describe the operands."""
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or m * n * k < _MIN_MACS:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((m, n), np.float32)
    elif out.shape != (m, n) or out.dtype != np.float32:
        return np.matmul(a, b, out=out)
    la, lb, lc = _layout(a), _layout(b), _layout(out)
    if la is None or lb is None or lc is None or lc[0] != _NO_TRANS or not _safe(a, b, out):
        return np.matmul(a, b, out=out)
    _sgemm(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1],
           b.ctypes.data, lb[1], 0.0, out.ctypes.data, lc[1])
    return out
