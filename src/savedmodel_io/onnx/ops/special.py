"""Special functions: the gamma, zeta, error-function, Bessel and integral families, and Xlog1py.

Semantics: the numpy kernels (graph/ops/special.py, graph/ops/_special.py), whose domains,
poles and NaN rules are TensorFlow's. ``xlog1py(x, y)`` is 0 where x is 0, else
``x * log1p(y)``.

ONNX has no operator for any of the special functions, but each is arithmetic: ``_specfn``
writes them as fixed float64 element-wise ops (piecewise Cephes approximations picked by
``Where``, unrolled series, and ``Loop``s with a fixed maximum trip count for the iterations
whose length depends on the data: igamma/igammac's series and continued fraction (2000 trips),
betainc's continued fraction (3000) and zeta's direct sum for negative q). Inputs are cast to
float64 and the result back to the input's type, as the runtime's kernels compute; float32 and
half inputs round the few intermediate steps TF's single-precision kernels round (the Fresnel
phase, the Bessel phase past 25, erfinv's halving), where those digits decide the result.
onnxruntime has every op used here in float64 (Erf is not used: it is float32 only there).

Measured against the numpy runtime's kernels over wide ranges (tests/onnx_export/
test_special_accuracy.py states each function's bound): see docs/onnx.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Val
from savedmodel_io.onnx.ops import _specfn as S
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import cast, scalar
from savedmodel_io.onnx.ops.math import align

F64 = np.dtype(np.float64)


@converter("Xlog1py", onnx="Add, Log, Mul, Equal, Where", layout=True)
def xlog1py(cx, node, ins):
    g = cx.g
    x, y = align(g, ins[0], ins[1])
    log1p = g.op1("Log", g.op1("Add", y, scalar(g, 1, y.dtype)))
    zero = scalar(g, 0, x.dtype)
    out = g.op1("Where", g.op1("Equal", x, zero), zero, g.op1("Mul", x, log1p))
    out.perm = x.perm
    return out


def _float(v: Val, what: str) -> np.dtype:
    dt = np.dtype(v.dtype)
    if dt.kind != "f" and dt.name != "bfloat16":
        raise ExportError(f"{what} of {dt} values")
    return dt


def _quarter_max(dt: np.dtype) -> float:
    """2^(maxexp - 2) of dt: past it TF's Ei and Spence lose 1/x and give NaN."""
    if dt.name == "bfloat16":
        return 2.0 ** 126
    return 2.0 ** (np.finfo(dt).maxexp - 2)


def _unary(op: str, fn: Callable[[S.Onnx, S.X, np.dtype], S.X], how: str) -> None:
    @converter(op, onnx=how, layout=True)
    def conv(cx, node, ins):
        g = cx.g
        x = ins[0]
        dt = _float(x, op)
        B = S.Onnx(g)
        out = cast(g, fn(B, S.X(B, cast(g, x, F64)), dt).v, dt)
        out.perm = x.perm
        return out


def _past_quarter_max(fn):
    def run(B, x, dt):
        return B.where(B.abs(x) > _quarter_max(dt), S.NAN, fn(B, x))
    return run


_RATIONAL = "Cephes' rational approximations by range (float64, Where)"
_CHEB = "Cephes' Chebyshev series by range (float64, Where)"
_HANKEL = "Cephes' rationals below 5, modulus and phase (Sin, Cos) above (float64, Where)"
# op -> the function of (backend, float64 x, input dtype), the mapping's description
UNARY_METHODS = (
        ("Lgamma", lambda B, x, dt: S.lgamma(B, x), "recurrence shifts, Taylor series about 2, Stirling (float64)"),
        ("Digamma", lambda B, x, dt: S.digamma(B, x), "recurrence shifts, asymptotic series, reflection (float64)"),
        ("Erfinv", S.erfinv, "Cephes ndtri rationals (float64)"),
        ("Ndtri", lambda B, x, dt: S.ndtri(B, x), "Cephes ndtri rationals (float64)"),
        ("Dawsn", lambda B, x, dt: S.dawsn(B, x), _RATIONAL),
        ("Expint", _past_quarter_max(S.expint), _RATIONAL),
        ("Spence", _past_quarter_max(S.spence), _RATIONAL),
        ("FresnelCos", lambda B, x, dt: S.fresnel(B, x, False, dt), _RATIONAL),
        ("FresnelSin", lambda B, x, dt: S.fresnel(B, x, True, dt), _RATIONAL),
        ("BesselI0", lambda B, x, dt: S.bessel_i(B, 0, x), _CHEB),
        ("BesselI1", lambda B, x, dt: S.bessel_i(B, 1, x), _CHEB),
        ("BesselI0e", lambda B, x, dt: S.bessel_i_scaled(B, 0, x), _CHEB),
        ("BesselI1e", lambda B, x, dt: S.bessel_i_scaled(B, 1, x), _CHEB),
        ("BesselK0", lambda B, x, dt: S.bessel_k(B, 0, x, False), _CHEB),
        ("BesselK1", lambda B, x, dt: S.bessel_k(B, 1, x, False), _CHEB),
        ("BesselK0e", lambda B, x, dt: S.bessel_k(B, 0, x, True), _CHEB),
        ("BesselK1e", lambda B, x, dt: S.bessel_k(B, 1, x, True), _CHEB),
        ("BesselJ0", lambda B, x, dt: S.bessel_jy(B, "j", 0, x, dt), _HANKEL),
        ("BesselJ1", lambda B, x, dt: S.bessel_jy(B, "j", 1, x, dt), _HANKEL),
        ("BesselY0", lambda B, x, dt: S.bessel_jy(B, "y", 0, x, dt), _HANKEL),
        ("BesselY1", lambda B, x, dt: S.bessel_jy(B, "y", 1, x, dt), _HANKEL))
for _op, _fn, _how in UNARY_METHODS:
    _unary(_op, _fn, _how)


def _binary(op: str, fn: Callable[[S.Onnx, S.X, S.X], S.X], how: str) -> None:
    @converter(op, onnx=how, layout=True)
    def conv(cx, node, ins):
        g = cx.g
        a, b = align(g, ins[0], ins[1])
        dt = _float(a, op)
        B = S.Onnx(g)
        out = cast(g, fn(B, S.X(B, cast(g, a, F64)), S.X(B, cast(g, b, F64))).v, dt)
        out.perm = a.perm or b.perm
        return out


_binary("Zeta", S.zeta, "Loop of direct terms, Euler-Maclaurin (float64)")
_binary("Polygamma", S.polygamma, "digamma; n! zeta(n + 1, x): Loop of direct terms, Euler-Maclaurin (float64)")
_binary("Igamma", lambda B, a, x: S.igamma(B, a, x, False),
        "Loop (at most 2000 trips) of the series and continued fraction (float64)")
_binary("Igammac", lambda B, a, x: S.igamma(B, a, x, True),
        "Loop (at most 2000 trips) of the series and continued fraction (float64)")


@converter("Betainc", onnx="Loop (at most 3000 trips) of the continued fraction (float64)")
def betainc(cx, node, ins):
    g = cx.g
    a, b, x = (g.plain(v) for v in ins[:3])
    shapes = (("a", a.shape), ("b", b.shape), ("x", x.shape))
    for i, (n1, s1) in enumerate(shapes):
        for n2, s2 in shapes[i + 1:]:
            # TF's rule (tensorflow/core/kernels/betainc_op.cc): non-scalar inputs share one shape.
            if s1 and s2 and len(s1) != len(s2) or s1 and s2 and any(
                    isinstance(p, int) and isinstance(q, int) and p != q for p, q in zip(s1, s2)):
                raise ExportError(f"Shapes of {n1} and {n2} are inconsistent: {list(s1)} vs. {list(s2)}")
    dt = _float(a, "Betainc")
    B = S.Onnx(g)
    out = S.betainc(B, *(S.X(B, cast(g, v, F64)) for v in (a, b, x)))
    return cast(g, out.v, dt)
