"""Special functions: gamma and zeta families, error functions, Bessel functions, integrals.

The numerics are ours in plain numpy (``_special.py``), computed in float64 and rounded to
the input's dtype; domains, poles and NaN rules are TensorFlow's (its CPU kernels call
Eigen's special functions, ports of Cephes). Broadcasting follows TF's binary ops, except
Betainc, whose non-scalar inputs must have one shape (tensorflow/tensorflow
tensorflow/core/kernels/betainc_op.cc).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from savedmodel_io.graph.ops import _special as sf
from savedmodel_io.graph.ops._accel import accel
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad


def _rounded(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(out).astype(dtype)


def _unary(fn: Callable[[np.ndarray, np.dtype], np.ndarray]):
    def run(node, inputs, ctx):
        x = np.asarray(inputs[0])
        return _rounded(fn(x, x.dtype), x.dtype)
    return run


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def run(node, inputs, ctx):
        x, y = np.asarray(inputs[0]), np.asarray(inputs[1])
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise bad(node, f"Incompatible shapes: {list(x.shape)} vs. {list(y.shape)}") from None
        try:
            return _rounded(fn(x, y), x.dtype)
        except ValueError as exc:  # zeta's term count guard
            raise bad(node, str(exc)) from None
    return run


def _working(dt: np.dtype) -> np.dtype:
    """The precision TF's kernel computes in: double for float64, float otherwise (half too)."""
    return np.dtype(np.float64) if dt == np.float64 else np.dtype(np.float32)


def _erf(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    out = sf.erf(x)
    if dt == np.float64:
        # TF's double erf is NaN once x * x overflows (|x| > 1.34e154, infinities included).
        with np.errstate(over="ignore"):
            out = np.where(np.isinf(x.astype(np.float64) ** 2), np.nan, out)
    return out


def _erfc(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    """float64: the series and continued fraction; narrower types: the fitted closed form
    (1.2e-7 relative, far cheaper: exact GELU runs it on every activation), float32 in C
    when the accelerator is built."""
    if dt == np.float64:
        return sf.erfc(x)
    if dt == np.float32 and accel is not None:
        src = np.ascontiguousarray(x)
        out = np.empty(src.shape, np.float32)
        accel.erfc(src.reshape(-1), out.reshape(-1))
        return out
    return sf.erfc_fitted(x)


def _past_quarter_max(fn: Callable[[np.ndarray], np.ndarray]):
    """fn, NaN above 2^(maxexp - 2) of the dtype, where TF's Ei and Spence lose 1/x."""
    def run(x: np.ndarray, dt: np.dtype) -> np.ndarray:
        limit = 2.0 ** (np.finfo(dt).maxexp - 2)
        return np.where(np.abs(x.astype(np.float64)) > limit, np.nan, fn(x))
    return run


for _op, _fn in {
    "Lgamma": lambda x, dt: sf.lgamma(x), "Digamma": lambda x, dt: sf.digamma(x),
    "Erf": _erf, "Erfc": _erfc, "Erfinv": sf.erfinv,
    "Ndtri": lambda x, dt: sf.ndtri(x), "Dawsn": lambda x, dt: sf.dawsn(x),
    "Expint": _past_quarter_max(sf.expint), "Spence": _past_quarter_max(sf.spence),
    "FresnelCos": lambda x, dt: sf.fresnel(x, "cos", dt),
    "FresnelSin": lambda x, dt: sf.fresnel(x, "sin", dt),
    "BesselI0": lambda x, dt: sf.bessel_i(0, x), "BesselI1": lambda x, dt: sf.bessel_i(1, x),
    "BesselI0e": lambda x, dt: sf.bessel_i_scaled(0, x),
    "BesselI1e": lambda x, dt: sf.bessel_i_scaled(1, x),
    "BesselK0": lambda x, dt: sf.bessel_k(0, x), "BesselK1": lambda x, dt: sf.bessel_k(1, x),
    "BesselK0e": lambda x, dt: sf.bessel_k_scaled(0, x),
    "BesselK1e": lambda x, dt: sf.bessel_k_scaled(1, x),
    "BesselJ0": lambda x, dt: sf.bessel_jy("j", 0, x, _working(dt)),
    "BesselJ1": lambda x, dt: sf.bessel_jy("j", 1, x, _working(dt)),
    "BesselY0": lambda x, dt: sf.bessel_jy("y", 0, x, _working(dt)),
    "BesselY1": lambda x, dt: sf.bessel_jy("y", 1, x, _working(dt)),
}.items():
    kernel(_op)(_unary(_fn))


def _xlog1py(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * log1p(y), 0 where x is 0 (whatever y is)."""
    with np.errstate(all="ignore"):
        return np.where(x == 0, np.zeros((), x.dtype), x * np.log1p(y))


def _nextafter(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.nextafter(x, y)


for _op, _fn in {
    "Polygamma": sf.polygamma, "Zeta": sf.zeta, "Igamma": sf.igamma,
    "Igammac": lambda a, x: sf.igamma(a, x, upper=True), "Xlog1py": _xlog1py,
    "NextAfter": _nextafter,
}.items():
    kernel(_op)(_binary(_fn))


@kernel("Betainc")
def betainc(node, inputs, ctx):
    a, b, x = (np.asarray(v) for v in inputs)
    for (n1, s1), (n2, s2) in (((("a", a.shape), ("b", b.shape))), (("a", a.shape), ("x", x.shape)),
                               (("b", b.shape), ("x", x.shape))):
        if s1 and s2 and s1 != s2:
            raise bad(node, f"Shapes of {n1} and {n2} are inconsistent: {list(s1)} vs. {list(s2)}")
    return _rounded(sf.betainc(a, b, x), a.dtype)
