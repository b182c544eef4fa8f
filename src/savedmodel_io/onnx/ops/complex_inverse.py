"""Complex inverse trigonometric and hyperbolic functions on (real, imaginary) pairs.

TensorFlow's kernels call std::asin, std::acos, ... of std::complex (Eigen's scalar functors),
which libstdc++ hands to C99's casin, cacos, catan, casinh, cacosh, catanh: principal values
with the branch cuts, signed zeros, infinities and NaNs of C11 Annex G (G.6.1, G.6.2). The
numpy runtime's kernels (np.arcsin etc., graph/ops/math.py) give the same values and are the
semantics here.

The naive forms (asin z = -i log(iz + sqrt(1 - z^2))) lose every digit near the real axis and
overflow far from 0, so the parts are computed as Hull, Fairgrieve and Tang's algorithm does
("Implementing the complex arcsine and arccosine functions using exception handling", ACM TOMS
23(3), 1997): with R = |z + 1|, S = |z - 1| (z = x + iy in the first quadrant),
alpha = (R + S) / 2 and beta = x / alpha,

    Re asin z = atan(x / sqrt(alpha^2 - x^2)),   Re acos z = atan(sqrt(alpha^2 - x^2) / x),
    Im asin z = log(alpha + sqrt(alpha^2 - 1)) = log1p((alpha - 1) + sqrt((alpha - 1)(alpha + 1))),

where alpha - x and alpha - 1 are written without cancellation (R - (x + 1) = y^2 / (R + x + 1)
and likewise for S), and a factor y is kept outside the square roots so tiny y does not
underflow. Past |z| = 2^53 asin z = atan2(x, y) + i (log 2 + log |z|) to working precision.
atanh z = log1p(4x / ((1 - x)^2 + y^2)) / 4 + i atan2(2y, (1 - x)(1 + x) - y^2) / 2 (Kahan,
"Branch cuts for complex elementary functions", 1987), with atanh's 1/z asymptote past 2^53
and the x = 1 limit for tiny y. The other functions follow by the identities of C11 G.6:
asinh z = -i asin(iz), atan z = -i atanh(iz), acosh z = +-i acos z, and the odd/conjugate
symmetries give the other quadrants (signs copied from the input's parts, so a cut's two
sides are told apart by the sign of a zero imaginary part).

Everything is computed in float64 (complex64's parts are widened, exactly), which keeps
complex64 within an ulp or two of the rounded result. onnxruntime's Atan is float32 only:
``_atan`` refines its result with one Newton step in float64 (Sin and Cos have float64 kernels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.onnx._graph import Graph, Val
from savedmodel_io.onnx.ops._registry import complex_form
from savedmodel_io.onnx.ops._util import cast, scalar

__all__: list[str] = []

_F = np.float64
# Past this |z| the asymptotic forms are exact to float64 rounding (their next terms are
# 1 / |z|^2 smaller for asin, 1 / |z| for atanh's imaginary part: 2^-53).
_LARGE = float(2.0 ** 53)
# Below this y, atanh(1 + iy)'s real part is (log 2 - log y) / 2 (the y^2 in its formula underflows).
_TINY = 1e-8
# Hull et al.'s crossover: below it alpha - 1 is formed from its small terms, above it directly.
_A_CROSS = 1.5


def _c(g: Graph, v: float) -> Val:
    return scalar(g, v, _F)


def _atan(g: Graph, t: Val) -> Val:
    """atan(t) in float64: onnxruntime's float32 Atan, then one Newton step on sin a - t cos a = 0
    (a1 = a0 - (sin a0 - t cos a0) / (cos a0 + t sin a0)); +-pi/2 for infinite t."""
    a0 = cast(g, g.op1("Atan", cast(g, t, np.float32)), _F)
    s, c = g.op1("Sin", a0), g.op1("Cos", a0)
    num = g.op1("Sub", s, g.op1("Mul", t, c))
    den = g.op1("Add", c, g.op1("Mul", t, s))
    a1 = g.op1("Sub", a0, g.op1("Div", num, den))
    inf = g.op1("IsInf", t)
    return g.op1("Where", inf, g.op1("Mul", g.op1("Sign", t), _c(g, np.pi / 2)), a1)


def _sign_bit(g: Graph, v: Val) -> Val:
    from savedmodel_io.onnx.ops.math import _sign_bit

    return _sign_bit(g, v)


def _copysign(g: Graph, mag: Val, sign_of: Val) -> Val:
    """|mag| with the sign bit of ``sign_of`` (a NaN counts as positive). A product by +-1, not a
    Where: onnxruntime's Where gives +0 for a selected -0."""
    unit = g.op1("Where", _sign_bit(g, sign_of), _c(g, -1), _c(g, 1))
    return g.op1("Mul", g.op1("Abs", mag), unit)


def _modulus(g: Graph, x: Val, y: Val) -> tuple[Val, Val]:
    """(log |x + iy|, |x + iy|) for x, y >= 0 without overflow (|z| itself may overflow)."""
    big = g.op1("Max", x, y)
    safe = g.op1("Where", g.op1("Or", g.op1("Equal", big, _c(g, 0)), g.op1("IsInf", big)), _c(g, 1), big)
    a, b = g.op1("Div", x, safe), g.op1("Div", y, safe)
    r = g.op1("Sqrt", g.op1("Add", g.op1("Mul", a, a), g.op1("Mul", b, b)))
    return g.op1("Add", g.op1("Log", big), g.op1("Log", r)), g.op1("Mul", big, r)


def _hypot(g: Graph, a: Val, b: Val) -> Val:
    return _modulus(g, g.op1("Abs", a), g.op1("Abs", b))[1]


def _asin_quadrant(g: Graph, x: Val, y: Val, acos: bool) -> tuple[Val, Val]:
    """(Re asin z or, with ``acos``, Re acos z; Im asin z) for z = x + iy, x and y >= 0 (float64;
    NaN left to the caller)."""
    from savedmodel_io.onnx.ops.math import log1p_of

    one, half = _c(g, 1), _c(g, 0.5)
    xp1, xm1, omx = g.op1("Add", x, one), g.op1("Sub", x, one), g.op1("Sub", one, x)
    r, s = _hypot(g, xp1, y), _hypot(g, xm1, y)
    alpha = g.op1("Max", g.op1("Mul", half, g.op1("Add", r, s)), one)
    rp = g.op1("Add", r, xp1)                      # R + x + 1 >= 1
    inv_rp = g.op1("Reciprocal", rp)
    yy = g.op1("Mul", y, y)
    le1 = g.op1("LessOrEqual", x, one)
    # sqrt(alpha^2 - x^2) = sqrt((alpha + x)(alpha - x)); alpha - x = (R - (x + 1) + S - (x - 1)) / 2.
    apx = g.op1("Add", alpha, x)
    near = g.op1("Sqrt", g.op1("Mul", apx, g.op1("Mul", half, g.op1("Add", g.op1("Mul", yy, inv_rp),
                                                                            g.op1("Add", s, omx)))))
    s_far = g.op1("Add", s, xm1)                     # S + x - 1 > 0 where x > 1
    far = g.op1("Mul", y, g.op1("Sqrt", g.op1("Mul", g.op1("Mul", half, apx),
                                                  g.op1("Add", inv_rp, g.op1("Reciprocal", s_far)))))
    d = g.op1("Where", le1, near, far)
    # alpha - 1 = (R - (1 + x) + S - (1 - x)) / 2 and sqrt((alpha - 1)(alpha + 1)).
    lt1 = g.op1("Less", x, one)
    s_near = g.op1("Add", s, omx)                    # S + 1 - x > 0 where x < 1
    k = g.op1("Add", inv_rp, g.op1("Reciprocal", s_near))
    am1_lt = g.op1("Mul", g.op1("Mul", half, yy), k)
    root_lt = g.op1("Mul", y, g.op1("Sqrt", g.op1("Mul", g.op1("Mul", half, g.op1("Add", alpha, one)), k)))
    am1_ge = g.op1("Mul", half, g.op1("Add", g.op1("Mul", yy, inv_rp), s_far))
    root_ge = g.op1("Sqrt", g.op1("Mul", am1_ge, g.op1("Add", alpha, one)))
    am1 = g.op1("Where", lt1, am1_lt, am1_ge)
    root = g.op1("Where", lt1, root_lt, root_ge)
    im_near = log1p_of(g, g.op1("Add", am1, root))
    im_far = g.op1("Log", g.op1("Add", alpha, g.op1("Sqrt", g.op1("Mul", g.op1("Sub", alpha, one),
                                                                       g.op1("Add", alpha, one)))))
    im = g.op1("Where", g.op1("Less", alpha, _c(g, _A_CROSS)), im_near, im_far)
    # Far from 0: asin z = atan2(x, y) + i (log 2 + log |z|), so y stands for sqrt(alpha^2 - x^2).
    big = g.op1("Greater", g.op1("Max", x, y), _c(g, _LARGE))
    d = g.op1("Where", big, y, d)
    # Re asin z = atan(x / d), Re acos z = atan(d / x) (pi/4 for two infinite parts).
    re = _atan(g, g.op1("Div", d, x) if acos else g.op1("Div", x, d))
    re = g.op1("Where", g.op1("And", g.op1("IsInf", x), g.op1("IsInf", y)), _c(g, np.pi / 4), re)
    far_im = g.op1("Add", _modulus(g, x, y)[0], _c(g, np.log(2.0)))
    return re, g.op1("Where", big, far_im, im)


def _atanh_quadrant(g: Graph, x: Val, y: Val) -> tuple[Val, Val]:
    """(Re atanh z, Im atanh z) for z = x + iy, x and y >= 0 (float64; NaN left to the caller)."""
    from savedmodel_io.onnx.ops.math import log1p_of

    one = _c(g, 1)
    omx = g.op1("Sub", one, x)
    yy = g.op1("Mul", y, y)
    den = g.op1("Add", g.op1("Mul", omx, omx), yy)
    re = g.op1("Mul", _c(g, 0.25), log1p_of(g, g.op1("Div", g.op1("Mul", _c(g, 4), x), den)))
    at_one = g.op1("And", g.op1("Equal", x, one), g.op1("Less", y, _c(g, _TINY)))
    re = g.op1("Where", at_one, g.op1("Mul", _c(g, 0.5), g.op1("Sub", _c(g, np.log(2.0)), g.op1("Log", y))), re)
    # Im = atan2(2y, (1 - x)(1 + x) - y^2) / 2, with 2y >= 0.
    cos_part = g.op1("Sub", g.op1("Mul", omx, g.op1("Add", one, x)), yy)
    two_y = g.op1("Add", y, y)
    a = _atan(g, g.op1("Div", two_y, g.op1("Abs", cos_part)))
    a = g.op1("Where", g.op1("And", g.op1("Equal", two_y, _c(g, 0)), g.op1("Equal", cos_part, _c(g, 0))),
              _c(g, 0), a)
    a = g.op1("Where", _sign_bit(g, cos_part), g.op1("Sub", _c(g, np.pi), a), a)
    im = g.op1("Mul", _c(g, 0.5), a)
    # Far from 0: atanh z = 1 / z + i pi / 2 to working precision; Re(1 / z) = x / |z|^2.
    big = g.op1("Max", x, y)
    far = g.op1("Greater", big, _c(g, _LARGE))
    safe = g.op1("Where", g.op1("IsInf", big), _c(g, 1), big)
    xs, ys = g.op1("Div", x, safe), g.op1("Div", y, safe)
    re_far = g.op1("Div", g.op1("Div", xs, g.op1("Add", g.op1("Mul", xs, xs), g.op1("Mul", ys, ys))), safe)
    re_far = g.op1("Where", g.op1("IsInf", big), _c(g, 0), re_far)
    return g.op1("Where", far, re_far, re), g.op1("Where", far, _c(g, np.pi / 2), im)


def _nan_or(g: Graph, cond: Val, v: Val) -> Val:
    return g.op1("Where", cond, _c(g, np.nan), v)


def _asin_parts(g: Graph, x: Val, y: Val, acos: bool = False) -> tuple[Val, Val]:
    """(Re asin z, Im asin z), or with ``acos`` (Re acos z, Im acos z), for z = x + iy of any
    signs (C11 G.6.2.2 via G.6.1)."""
    ax, ay = g.op1("Abs", x), g.op1("Abs", y)
    re_q, im = _asin_quadrant(g, ax, ay, acos)
    nx, ny = g.op1("IsNaN", x), g.op1("IsNaN", y)
    any_nan = g.op1("Or", nx, ny)
    # NaN parts: asin(+-0 + i NaN) = +-0 + i NaN (acos: pi/2 + i NaN); asin(+-inf + i NaN) =
    # NaN +- i inf and asin(NaN +- i inf) = NaN +- i inf; any other NaN gives NaN + i NaN.
    zero_re = g.op1("And", g.op1("Equal", x, _c(g, 0)), ny)
    inf_im = g.op1("Or", g.op1("And", g.op1("IsInf", x), ny), g.op1("And", nx, g.op1("IsInf", y)))
    re_q = g.op1("Where", zero_re, _c(g, np.pi / 2 if acos else 0), _nan_or(g, any_nan, re_q))
    im = g.op1("Where", inf_im, _c(g, np.inf), _nan_or(g, g.op1("And", any_nan, g.op1("Not", inf_im)), im))
    im_asin = _copysign(g, im, y)
    if not acos:
        return _copysign(g, re_q, x), im_asin
    # acos z = pi - acos(-z) on the left half plane; Im acos z = -Im asin z.
    return g.op1("Where", _sign_bit(g, x), g.op1("Sub", _c(g, np.pi), re_q), re_q), g.op1("Neg", im_asin)


def _atanh_parts(g: Graph, x: Val, y: Val) -> tuple[Val, Val]:
    """(Re atanh z, Im atanh z) for z = x + iy of any signs (C11 G.6.2.3)."""
    ax, ay = g.op1("Abs", x), g.op1("Abs", y)
    re, im = _atanh_quadrant(g, ax, ay)
    nx, ny = g.op1("IsNaN", x), g.op1("IsNaN", y)
    any_nan = g.op1("Or", nx, ny)
    # atanh(+-0 + i NaN) = +-0 + i NaN, atanh(+-inf + i NaN) = +-0 + i NaN, atanh(NaN +- i inf) =
    # 0 +- i pi/2; any other NaN gives NaN + i NaN.
    zero_re = g.op1("Or", g.op1("And", g.op1("Or", g.op1("Equal", x, _c(g, 0)), g.op1("IsInf", x)), ny),
                    g.op1("And", nx, g.op1("IsInf", y)))
    half_pi = g.op1("And", nx, g.op1("IsInf", y))
    re = g.op1("Where", zero_re, _c(g, 0), _nan_or(g, any_nan, re))
    im = g.op1("Where", half_pi, _c(g, np.pi / 2), _nan_or(g, any_nan, im))
    return _copysign(g, re, x), _copysign(g, im, y)


def _inverse(cx: Any, node: Any, ins: list[Val], conv: Any) -> Val:
    from savedmodel_io.onnx.ops.complex import _complex_of, _plain, join, parts, real_dtype

    g = cx.g
    dt = _complex_of(ins)
    rt = real_dtype(dt)
    re, im = parts(g, _plain(g, ins)[0])
    x, y = cast(g, re, _F), cast(g, im, _F)
    op = node.op
    if op in ("Asin", "Acos"):
        out = _asin_parts(g, x, y, acos=op == "Acos")
    elif op == "Acosh":  # acosh z = |Im acos z| + i Re acos z with the sign of Im z (C11 G.6.2.1)
        rc, ic = _asin_parts(g, x, y, acos=True)
        out = (g.op1("Abs", ic), _copysign(g, rc, y))
    elif op == "Asinh":  # asinh(x + iy) = -i asin(-y + ix): the parts of asin(y + ix) swapped
        rs, is_ = _asin_parts(g, y, x)
        out = (is_, rs)
    elif op == "Atanh":
        out = _atanh_parts(g, x, y)
    else:  # atan(x + iy) = -i atanh(-y + ix): the parts of atanh(y + ix) swapped
        r, i = _atanh_parts(g, y, x)
        out = (i, r)
    return join(g, cast(g, out[0], rt), cast(g, out[1], rt), dt)


complex_form("Asin", "Acos", "Asinh", "Acosh", onnx="Hull et al.'s asin/acos in float64: hypot forms, Atan "
             "(with a float64 Newton step), Log1p's compensated form, Where for branch cuts and special values")(
    _inverse)
complex_form("Atan", "Atanh", onnx="Kahan's atanh in float64: Log1p's compensated form, Atan (with a float64 "
             "Newton step), Where for the 1/z asymptote and special values")(_inverse)
