"""Special functions as fixed float64 arithmetic, written once for two backends.

Each function takes a backend ``B`` and float64 operands and uses only arithmetic operators,
comparisons, ``&``/``|``/``~`` and the backend's element-wise functions (``B.where``,
``B.exp``...). ``Onnx`` builds ONNX nodes (the exporter's converters, ``special.py``);
``Numpy`` runs the same steps on arrays (the tests use it to tell the method's error from
onnxruntime's). Nothing here branches on data: piecewise approximations are all evaluated and
picked by ``where``, series are unrolled to a fixed length, and the few iterations whose
length depends on the data (igamma's series and continued fraction, betainc's continued
fraction, zeta's direct sum for negative q) are ``B.loop`` with a fixed maximum trip count
whose elements freeze once converged.

The methods: Cephes' approximations as TensorFlow's kernels run them (coefficients in
``_cephes``) for the Bessel functions, ndtri/erfinv, Dawson's integral, Ei, the Fresnel
integrals and Spence's function; for the gamma family, zeta and the incomplete gamma and beta
functions the numpy runtime's own methods (graph/ops/_special.py: recurrence shifts, Taylor
and Stirling series, Euler-Maclaurin, series and continued fractions). Domains, poles and
NaN rules are the runtime's kernels' (graph/ops/special.py), which are TensorFlow's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from savedmodel_io.graph.ops._special import _ZETA_MINUS_ONE, B2K
from savedmodel_io.onnx._graph import Val
from savedmodel_io.onnx.ops import _cephes as C

F64 = np.dtype(np.float64)
EPS = float(np.finfo(np.float64).eps)
EULER = 0.57721566490153286061
LOG_2PI = 1.8378770664093454836
PI = float(np.pi)
INF, NAN = float("inf"), float("nan")

# Largest trip counts of the data-dependent iterations (the runtime's own caps).
IGAMMA_TRIPS = 2000
BETAINC_TRIPS = 3000
ZETA_TRIPS = (1 << 17) + 9


# -- backends ------------------------------------------------------------------------------------

class Numpy:
    """The functions on numpy float64 arrays (errors ignored, as the kernels do)."""

    where = staticmethod(np.where)
    exp, log, sqrt, abs, floor = np.exp, np.log, np.sqrt, np.abs, np.floor
    sin, cos, isnan, isinf = np.sin, np.cos, np.isnan, np.isinf

    @staticmethod
    def eq(a, b):
        return np.equal(a, b)

    @staticmethod
    def ne(a, b):
        return np.not_equal(a, b)

    @staticmethod
    def pow(a, b):
        return np.power(a, b)

    @staticmethod
    def round_even(x):
        return np.round(x)

    @staticmethod
    def rounded(x, dt: np.dtype):
        """x rounded to dt and back."""
        return np.asarray(x).astype(dt).astype(F64)

    @staticmethod
    def add_in(a, b, dt: np.dtype):
        """a + b computed in dt (both already representable in dt)."""
        return (np.asarray(a).astype(dt) + np.asarray(b).astype(dt)).astype(F64)

    @staticmethod
    def loop(trips: int, state: list, step: Callable[[Any, list], tuple[Any, list]]) -> list:
        """``step(i, state) -> (go on, state)`` from i = 0 while go on (any element), at most ``trips``."""
        go = True
        for i in range(trips):
            if not go:
                break
            go_arr, state = step(np.float64(i), state)
            go = bool(np.any(go_arr))
        return state


class X:
    """An ONNX value with Python's operators (float64, or bool for comparisons)."""

    __slots__ = ("b", "v")

    def __init__(self, b: Onnx, v: Any) -> None:
        self.b, self.v = b, v

    def _bin(self, op: str, other: Any, swap: bool = False) -> X:
        o = self.b.val(other)
        return self.b.node(op, o, self.v) if swap else self.b.node(op, self.v, o)

    def __add__(self, o): return self._bin("Add", o)
    def __radd__(self, o): return self._bin("Add", o, True)
    def __sub__(self, o): return self._bin("Sub", o)
    def __rsub__(self, o): return self._bin("Sub", o, True)
    def __mul__(self, o): return self._bin("Mul", o)
    def __rmul__(self, o): return self._bin("Mul", o, True)
    def __truediv__(self, o): return self._bin("Div", o)
    def __rtruediv__(self, o): return self._bin("Div", o, True)
    def __neg__(self): return self.b.node("Neg", self.v)
    def __lt__(self, o): return self._bin("Less", o)
    def __le__(self, o): return self._bin("LessOrEqual", o)
    def __gt__(self, o): return self._bin("Greater", o)
    def __ge__(self, o): return self._bin("GreaterOrEqual", o)
    def __and__(self, o): return self._bin("And", o)
    def __rand__(self, o): return self._bin("And", o, True)
    def __or__(self, o): return self._bin("Or", o)
    def __ror__(self, o): return self._bin("Or", o, True)
    def __invert__(self): return self.b.node("Not", self.v)

    __hash__ = None  # type: ignore[assignment]


class Onnx:
    """ONNX nodes on ``g`` (float64 element-wise ops; ``loop`` is an ONNX Loop)."""

    def __init__(self, g: Any) -> None:
        self.g = g
        self._consts: dict[tuple[str, bytes], Any] = {}

    # values
    def val(self, v: Any) -> Any:
        if isinstance(v, X):
            return v.v
        if isinstance(v, Val):
            return v
        if isinstance(v, (bool, np.bool_)):
            return self._const(np.asarray(bool(v)))
        return self._const(np.asarray(v, F64))

    def _const(self, arr: np.ndarray) -> Any:
        key = (arr.dtype.str, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.g.const(arr)
        return self._consts[key]

    def node(self, op: str, *ins: Any, **attrs: Any) -> X:
        return X(self, self.g.op1(op, *[self.val(i) for i in ins], **attrs))

    # element-wise functions
    def where(self, c, a, b) -> X: return self.node("Where", c, a, b)
    def exp(self, x) -> X: return self.node("Exp", x)
    def log(self, x) -> X: return self.node("Log", x)
    def sqrt(self, x) -> X: return self.node("Sqrt", x)
    def abs(self, x) -> X: return self.node("Abs", x)
    def floor(self, x) -> X: return self.node("Floor", x)
    def sin(self, x) -> X: return self.node("Sin", x)
    def cos(self, x) -> X: return self.node("Cos", x)
    def isnan(self, x) -> X: return self.node("IsNaN", x)
    def isinf(self, x) -> X: return self.node("IsInf", x)
    def eq(self, a, b) -> X: return self.node("Equal", a, b)
    def ne(self, a, b) -> X: return ~self.node("Equal", a, b)
    def pow(self, a, b) -> X: return self.node("Pow", a, b)
    def round_even(self, x) -> X: return self.node("Round", x)

    def rounded(self, x, dt: np.dtype) -> X:
        from savedmodel_io.onnx.ops._util import cast
        return X(self, cast(self.g, cast(self.g, self.val(x), dt), F64))

    def add_in(self, a, b, dt: np.dtype) -> X:
        from savedmodel_io.onnx.ops._util import cast
        g = self.g
        work = np.dtype(np.float32) if dt.itemsize < 4 else dt  # onnxruntime adds float16 in float32
        s = g.op1("Add", cast(g, self.val(a), work), cast(g, self.val(b), work))
        return X(self, cast(g, cast(g, s, dt), F64))

    def loop(self, trips: int, state: list, step: Callable[[Any, list], tuple[Any, list]]) -> list:
        """An ONNX Loop: ``step(i, state) -> (go on, state)``; ``go on`` is any element's flag.

        The first trip always runs (the state's elements freeze themselves once done)."""
        from savedmodel_io.onnx._types import tensor_type
        from savedmodel_io.onnx.ops._subgraph import body_graph
        from savedmodel_io.onnx.ops._util import cast, scalar

        g = self.g
        init = [self.val(s) for s in state]
        i64, b8 = np.dtype(np.int64), np.dtype(bool)
        names = [g.model.fresh(f"{g.hint}/{k}") for k in ("iter", "cond", *(f"s{j}" for j in range(len(init))))]
        types = [tensor_type(np.dtype(v.dtype), v.shape) for v in init]
        outer_consts = self._consts

        def body(gg: Any) -> list:
            self.g, self._consts = gg, dict(outer_consts)
            try:
                carried = [X(self, Val(n, v.dtype, v.shape)) for n, v in zip(names[2:], init)]
                i = X(self, cast(gg, Val(names[0], i64, ()), F64))
                go, new = step(i, carried)
                flag = gg.op1("Cast", self.val(go), to=7)  # int64
                anyv = gg.op1("Greater", gg.op1("ReduceSum", flag, keepdims=0), scalar(gg, 0, np.int64))
                return [anyv, *[self.val(v) for v in new]]
            finally:
                self.g, self._consts = g, outer_consts

        proto, _ = body_graph(g, "special_loop", body, [(names[0], tensor_type(i64, ())),
                                                        (names[1], tensor_type(b8, ())),
                                                        *zip(names[2:], types)])
        outs = g.op("Loop", [g.const(np.asarray(trips, np.int64)), g.const(np.asarray(True)), *init],
                    outputs=len(init), types=types, body=proto)
        return [X(self, o) for o in outs]


# -- building blocks -----------------------------------------------------------------------------

def poly(x, coefs: Sequence[float]):
    """sum coefs[k] x^(n-k) by Horner's rule (highest degree first)."""
    r = coefs[0] * x + coefs[1]
    for c in coefs[2:]:
        r = r * x + c
    return r


def cheb(x, coefs: Sequence[float]):
    """Cephes' chbevl: the Chebyshev series sum' c_k T_k(x / 2), Clenshaw's recurrence."""
    b0 = coefs[0] * (x * 0.0 + 1.0)
    b1 = b0 * 0.0
    b2 = b1
    for c in coefs[1:]:
        b2, b1 = b1, b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


def log1p(B, u):
    """log(1 + u) without cancellation near 0: log(w) u / (w - 1), w = 1 + u."""
    w = u + 1.0
    d = w - 1.0
    out = B.log(w) * (u / B.where(B.eq(d, 0.0), 1.0, d))
    out = B.where(B.eq(w, 1.0), u, out)
    return B.where(B.isinf(w) | B.eq(w, 0.0), B.log(w), out)


def signbit(B, x):
    """x < 0, -0 included."""
    return (x < 0.0) | (B.eq(x, 0.0) & (1.0 / x < 0.0))


def _sinpi(B, x):
    r = x - 2.0 * B.round_even(x * 0.5)
    return B.sin(PI * r)


# -- gamma family ---------------------------------------------------------------------------------

def _lgamma_pos(B, z):
    """log Gamma(z) for z > 0 (runtime: recurrence to [1.5, 2.5) or past 10; Taylor about 2,
    Stirling with 10 terms)."""
    small = z < 1.5
    near_one = B.abs(z - 1.0) < 0.5
    out = B.where(small, -B.where(near_one, log1p(B, z - 1.0), B.log(z)), 0.0)
    z = B.where(small, z + 1.0, z)
    mid = (z >= 2.5) & (z < 10.0)
    for _ in range(8):
        step = mid & (z >= 2.5)
        out = B.where(step, out + B.log(B.where(step, z - 1.0, 1.0)), out)
        z = B.where(step, z - 1.0, z)
    near_two = z < 2.5
    t = B.where(near_two, z - 2.0, 0.0)
    coefs = [(-1) ** k * zm1 / k for k, zm1 in enumerate(_ZETA_MINUS_ONE, start=2)]
    series = t * poly(t, list(reversed(coefs)) + [1 - EULER])
    big = B.where(near_two, 10.0, z)
    inv = 1.0 / big
    corr = inv * poly(inv * inv, [b / (2 * k * (2 * k - 1)) for k, b in reversed(list(enumerate(B2K[:10], 1)))])
    stirling = (big - 0.5) * B.log(big) - big + (LOG_2PI / 2 + corr)
    return out + B.where(near_two, series, stirling)


def lgamma(B, x):
    """log|Gamma(x)|: +inf at the poles (non-positive integers) and at +-inf."""
    pos = _lgamma_pos(B, B.where(x > 0.0, x, 1.0 - x))
    refl = B.log(PI / B.abs(_sinpi(B, x))) - pos
    out = B.where(x > 0.0, pos, refl)
    out = B.where((x <= 0.0) & B.eq(x, B.floor(x)), INF, out)
    return B.where(B.isinf(x), INF, out)


def digamma(B, x):
    """psi(x): NaN at the poles and at -inf, +inf at +inf (runtime: 10 recurrence steps to
    z >= 10, the asymptotic series with 10 Bernoulli terms, reflection below 0)."""
    neg = x <= 0.0
    z = B.where(neg, 1.0 - x, x)
    acc = z * 0.0
    for _ in range(10):
        low = z < 10.0
        acc = B.where(low, acc - 1.0 / B.where(low, z, 1.0), acc)
        z = B.where(low, z + 1.0, z)
    inv2 = 1.0 / (z * z)
    series = inv2 * poly(inv2, [b / (2 * k) for k, b in reversed(list(enumerate(B2K[:10], 1)))])
    psi = acc + B.log(z) - 0.5 / z - series
    r = x - B.round_even(x)
    refl = psi - PI * B.cos(PI * r) / B.sin(PI * r)
    out = B.where(neg, refl, psi)
    out = B.where(neg & B.eq(x, B.floor(x)), NAN, out)
    return B.where(B.eq(x, INF), INF, B.where(B.eq(x, -INF), NAN, out))


def zeta(B, s, q):
    """Hurwitz zeta(s, q) by the runtime's method and rules: direct terms (at least 9, until
    q + n > 9; a Loop, so negative q takes as many as it needs up to ``ZETA_TRIPS``: past that
    NaN, where the runtime refuses the node), then Euler-Maclaurin with 12 Bernoulli terms."""
    integer_s = B.eq(s, B.floor(s))
    at_pole = (q <= 0.0) & B.eq(q, B.floor(q))
    even_s = B.eq(s - 2.0 * B.floor(s * 0.5), 0.0)
    nan = (s < 1.0) | B.isnan(s) | B.isnan(q) | ((q < 0.0) & ~integer_s & ~at_pole) | \
        (at_pole & ~((integer_s & even_s) | B.isinf(s)))
    pole = at_pole & ~nan
    infinite_s = B.eq(s, INF) & ~nan & ~pole
    live = ~(nan | pole | infinite_s) & B.ne(s, 1.0)
    sv = B.where(live, s, 2.0)
    a = B.where(live, q, 1.0)
    total = B.pow(a, -sv)
    done = ~live

    def step(i, st):
        a, total, done = st
        todo = ~done & ((i < 9.0) | (a <= 9.0))
        a = B.where(todo, a + 1.0, a)
        b = B.pow(a, -sv)
        total = B.where(todo, total + b, total)
        done = done | (todo & (B.abs(b / total) < EPS))
        go = ~done & ((i + 1.0 < 9.0) | (a <= 9.0))
        return go, [a, total, done]

    a, total, done = B.loop(ZETA_TRIPS, [a, total, done], step)
    unfinished = ~done & (a <= 9.0)
    em = ~done
    w = total + B.pow(a, 1.0 - sv) / (sv - 1.0) - 0.5 * B.pow(a, -sv)
    fact = 1.0
    rising = sv
    p = B.pow(a, -sv - 1.0)
    inv_a2 = 1.0 / (a * a)
    for j, b in enumerate(B2K[:12], start=1):
        fact *= (2 * j) * (2 * j - 1)
        w = w + (b / fact) * rising * p
        rising = rising * (sv + (2 * j - 1)) * (sv + 2 * j)
        p = p * inv_a2
    out = B.where(em, w, total)
    out = B.where(unfinished, NAN, out)
    out = B.where(infinite_s, B.where(q < 1.0, INF, B.where(B.eq(q, 1.0), 1.0, 0.0)), out)
    out = B.where(pole | B.eq(s, 1.0), INF, out)
    return B.where(nan & B.ne(s, 1.0), NAN, out)


def polygamma(B, n, x):
    """psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x), digamma for n = 0; NaN unless n is a
    non-negative integer."""
    ok = (n >= 0.0) & B.eq(n, B.floor(n))
    nn = B.where(ok, n, 1.0)
    m = nn + 1.0
    sign = B.where(B.eq(m - 2.0 * B.floor(m * 0.5), 1.0), -1.0, 1.0)  # (-1)^inf = 1, as numpy
    higher = sign * B.exp(lgamma(B, m)) * zeta(B, m, x)
    out = B.where(B.eq(nn, 0.0), digamma(B, x), higher)
    return B.where(ok, out, NAN)


def igamma(B, a, x, upper: bool):
    """The regularized incomplete gamma P(a, x), or Q = 1 - P (runtime's method and rules): the
    power series of P for x <= max(a, 1), else Q's continued fraction (modified Lentz), one
    Loop of at most ``IGAMMA_TRIPS`` trips for both."""
    bad = (x < 0.0) | (a <= 0.0) | B.isnan(a) | B.isnan(x)
    special = bad | B.eq(x, 0.0) | B.isinf(a) | B.isinf(x)
    av = B.where(special, 1.0, a)
    xv = B.where(special, 1.0, x)
    use_cf = (xv > 1.0) & (xv > av)
    xs = B.where(use_cf, 1.0, xv)
    xc = B.where(use_cf, xv, av + 2.0)
    tiny = 1e-300
    b0 = xc + 1.0 - av
    one = av * 0.0 + 1.0
    state = [av, one, one, b0, one * (1 / tiny), 1.0 / b0, 1.0 / b0, ~(one > 0.0), ~(one > 0.0)]

    def step(i, st):
        r, c, tot, b, cc, d, h, s_done, c_done = st
        # series: r += 1, c *= x / r, total += c, until |c| <= eps total
        r2 = r + 1.0
        c2 = c * xs / r2
        tot2 = tot + c2
        r, c, tot = (B.where(s_done, u, v) for u, v in ((r, r2), (c, c2), (tot, tot2)))
        s_done = s_done | (B.abs(c2) <= EPS * tot2)
        # continued fraction, term i + 1
        k = i + 1.0
        an = -k * (k - av)
        b2 = b + 2.0
        d2 = an * d + b2
        d2 = B.where(B.abs(d2) < tiny, tiny, d2)
        cc2 = b2 + an / cc
        cc2 = B.where(B.abs(cc2) < tiny, tiny, cc2)
        d2 = 1.0 / d2
        delta = d2 * cc2
        h2 = h * delta
        b, cc, d, h = (B.where(c_done, u, v) for u, v in ((b, b2), (cc, cc2), (d, d2), (h, h2)))
        c_done = c_done | (B.abs(delta - 1.0) <= EPS)
        return ~(s_done & c_done), [r, c, tot, b, cc, d, h, s_done, c_done]

    st = B.loop(IGAMMA_TRIPS, state, step)
    tot, h = st[2], st[6]
    p_series = tot * B.exp(av * B.log(xs) - xs - lgamma(B, av + 1.0))
    q_cf = B.exp(av * B.log(xc) - xc - lgamma(B, av)) * h
    if upper:
        q = B.where(use_cf, q_cf, 1.0 - p_series)
        out = B.where(B.eq(x, INF), 0.0, B.where(B.eq(a, INF), 1.0, q))
        out = B.where(B.eq(x, 0.0), 1.0, out)
        return B.where(bad, NAN, out)
    p = B.where(use_cf, 1.0 - q_cf, p_series)
    out = B.where(B.eq(a, INF), 0.0, B.where(B.eq(x, INF), 1.0, p))
    out = B.where(bad, NAN, out)
    return B.where(B.eq(x, 0.0), 0.0, out)


def betainc(B, a, b, x):
    """The regularized incomplete beta I_x(a, b) (runtime's method and rules): the continued
    fraction (modified Lentz) of I_x(a, b), or of I_(1-x)(b, a) past the mean, one Loop of at
    most ``BETAINC_TRIPS`` trips."""
    nonpositive = (a <= 0.0) | (b <= 0.0)
    bad = (x < 0.0) | (x > 1.0) | B.isnan(a) | B.isnan(b) | B.isnan(x) | B.isinf(a) | B.isinf(b)
    special = nonpositive | bad | B.eq(x, 0.0) | B.eq(x, 1.0)
    av, bv = B.where(special, 1.0, a), B.where(special, 1.0, b)
    xv = B.where(special, 0.5, x)
    front = B.exp(lgamma(B, av + bv) - lgamma(B, av) - lgamma(B, bv) + av * B.log(xv) + bv * log1p(B, -xv))
    direct = xv < (av + 1.0) / (av + bv + 2.0)
    p = B.where(direct, av, bv)
    q = B.where(direct, bv, av)
    y = B.where(direct, xv, 1.0 - xv)
    tiny = 1e-300
    qab, qap, qam = p + q, p + 1.0, p - 1.0
    d = 1.0 - qab * y / qap
    d = 1.0 / B.where(B.abs(d) < tiny, tiny, d)
    one = p * 0.0 + 1.0

    def fix(v):
        return B.where(B.abs(v) < tiny, tiny, v)

    def step(i, st):
        c, d, h, done = st
        m = i + 1.0
        m2 = 2.0 * m
        aa = m * (q - m) * y / ((qam + m2) * (p + m2))
        d2 = 1.0 / fix(1.0 + aa * d)
        c2 = fix(1.0 + aa / c)
        h2 = h * d2 * c2
        aa = -(p + m) * (qab + m) * y / ((p + m2) * (qap + m2))
        d2 = 1.0 / fix(1.0 + aa * d2)
        c2 = fix(1.0 + aa / c2)
        delta = d2 * c2
        h2 = h2 * delta
        c, d, h = (B.where(done, u, v) for u, v in ((c, c2), (d, d2), (h, h2)))
        done = done | (B.abs(delta - 1.0) <= EPS)
        return ~done, [c, d, h, done]

    _, _, h, _ = B.loop(BETAINC_TRIPS, [one, d, d, ~(one > 0.0)], step)
    out = B.where(direct, front * h / av, 1.0 - front * h / bv)
    out = B.where(bad, NAN, out)
    out = B.where(B.eq(x, 0.0), 0.0, B.where(B.eq(x, 1.0), 1.0, out))
    return B.where(nonpositive, NAN, out)


# -- normal quantile ----------------------------------------------------------------------------

def ndtri(B, p):
    """The standard normal quantile (Cephes ndtri): -inf at 0, +inf at 1, NaN outside [0, 1]."""
    exp_m2 = 0.13533528323661269189
    flip = p <= 1.0 - exp_m2
    y = B.where(flip, p, 1.0 - p)
    c = y - 0.5
    c2 = c * c
    central = (c + c * (c2 * poly(c2, C.NDTRI_P0) / poly(c2, C.NDTRI_Q0))) * 2.50662827463100050242
    ys = B.where(y > 0.0, y, 0.5)
    t = B.sqrt(-2.0 * B.log(ys))
    x0 = t - B.log(t) / t
    z = 1.0 / t
    x1 = z * B.where(t < 8.0, poly(z, C.NDTRI_P1) / poly(z, C.NDTRI_Q1), poly(z, C.NDTRI_P2) / poly(z, C.NDTRI_Q2))
    tail = B.where(flip, x1 - x0, x0 - x1)
    out = B.where(y > exp_m2, central, tail)
    out = B.where(B.eq(p, 0.0), -INF, B.where(B.eq(p, 1.0), INF, out))
    return B.where((p < 0.0) | (p > 1.0) | B.isnan(p), NAN, out)


def erfinv(B, y, dt: np.dtype):
    """ndtri((y + 1) / 2) / sqrt(2), the halving rounded to the input's type dt (as TF)."""
    p = B.add_in(B.rounded(y * 0.5, dt), 0.5, dt) if dt != F64 else y * 0.5 + 0.5
    return ndtri(B, p) * float(np.sqrt(0.5))


# -- integrals ----------------------------------------------------------------------------------

def dawsn(B, x):
    """Dawson's integral (Cephes): 0.5 / |x| from 1e9 on (the sign dropped, as TF), 0 at +-inf."""
    ax = B.abs(x)
    x2 = ax * ax
    r1 = ax * poly(x2, C.DAWSN_AN) / poly(x2, C.DAWSN_AD)
    inv = 1.0 / ax
    inv2 = inv * inv
    r2 = 0.5 * (inv2 * (poly(inv2, C.DAWSN_BN) / (ax * poly(inv2, C.DAWSN_BD))) + inv)
    r3 = 0.5 * (inv2 * (poly(inv2, C.DAWSN_CN) / (ax * poly(inv2, C.DAWSN_CD))) + inv)
    out = B.where(ax < 3.25, r1, B.where(ax < 6.25, r2, r3))
    out = out * B.where(x < 0.0, -1.0, 1.0)  # odd (a product: Where drops the sign of -0)
    out = B.where(ax >= 1e9, 0.5 / ax, out)
    return B.where(B.isinf(x), 0.0, out)


def expint(B, x):
    """The exponential integral Ei(x) (Cephes, seven intervals): -inf at 0, NaN below 0 and at
    +-inf (the converter adds TF's NaN past a quarter of the type's largest value)."""
    xs = B.where(x > 0.0, x, 1.0)
    small = xs * (poly(xs, C.EI_A) / poly(xs, C.EI_B)) + EULER + B.log(xs)
    w = 1.0 / xs
    f = poly(w, C.EI_TAIL[0][1]) / poly(w, C.EI_TAIL[0][2])
    for lo, num, den in C.EI_TAIL[1:]:
        f = B.where(xs >= lo, poly(w, num) / poly(w, den), f)
    large = B.exp(xs) * w * (w * f + 1.0)
    out = B.where(xs < 2.0, small, large)
    out = B.where(B.eq(x, 0.0), -INF, out)
    return B.where((x < 0.0) | B.isinf(x) | B.isnan(x), NAN, out)


def fresnel(B, x, sine: bool, dt: np.dtype):
    """The Fresnel integral S(x) (``sine``) or C(x) (Cephes): +-1/2 past 36974. The phase
    pi x^2 / 2 is rounded as TF computes it in the input's type dt."""
    ax = B.abs(x)
    x2 = ax * ax
    x4 = x2 * x2
    if sine:
        near = ax * x2 * poly(x4, C.FRESNEL_SN) / poly(x4, C.FRESNEL_SD)
    else:
        near = ax * poly(x4, C.FRESNEL_CN) / poly(x4, C.FRESNEL_CD)
    ab = B.where(x2 < 2.5625, 2.0, B.where(ax > 36974.0, 36974.0, ax))
    b2 = ab * ab
    t = 1.0 / (PI * b2)
    u = t * t
    f = 1.0 - u * (poly(u, C.FRESNEL_FN) / poly(u, C.FRESNEL_FD))
    gg = t * poly(u, C.FRESNEL_GN) / poly(u, C.FRESNEL_GD)
    if dt == F64:
        z = (PI / 2) * b2
    else:
        b_t = B.rounded(ab, dt)
        z = B.rounded(float(np.asarray(PI / 2, dt)) * B.rounded(b_t * b_t, dt), dt)
    c, s = B.cos(z), B.sin(z)
    yv = 1.0 / (PI * ab)
    far = 0.5 - (f * c + gg * s) * yv if sine else 0.5 + (f * s - gg * c) * yv
    out = B.where(x2 < 2.5625, near, far)
    out = B.where(ax > 36974.0, 0.5, out)
    out = out * B.where(x < 0.0, -1.0, 1.0)  # odd (a product: Where drops the sign of -0)
    return B.where(B.isnan(x), NAN, out)


def spence(B, x):
    """Spence's function (Cephes): pi^2/6 at 0, 0 at 1, NaN below 0 and at +inf (the converter
    adds TF's NaN past a quarter of the type's largest value)."""
    pi2o6 = PI * PI / 6
    xv = B.where((x > 0.0) & ~B.isinf(x), x, 0.5)
    y = B.where(xv < 2.0, xv, 1.0 / xv)
    w = B.where(y > 1.5, 1.0 / y - 1.0, B.where(y < 0.5, -y, y - 1.0))
    sp = -w * (poly(w, C.SPENCE_A) / poly(w, C.SPENCE_B))
    z = B.log(y)
    sp = B.where(y < 0.5, -z * log1p(B, -y) + pi2o6 - sp, sp)
    sp = B.where(xv > 1.5, -0.5 * z * z - sp, sp)
    out = B.where(B.eq(x, 0.0), pi2o6, B.where(B.eq(x, 1.0), 0.0, sp))
    return B.where((x < 0.0) | B.isinf(x) | B.isnan(x), NAN, out)


# -- Bessel functions ---------------------------------------------------------------------------

def bessel_i_scaled(B, nu: int, x):
    """e^-|x| I_nu(x), nu = 0 or 1 (Cephes Chebyshev series): 0 at +-inf (-0 at -inf for I1)."""
    y = B.abs(x)
    ys = B.where(B.isinf(y), 1e300, y)
    if nu == 0:
        near = cheb(ys * 0.5 - 2.0, C.I0E_A)
        far = cheb(32.0 / ys - 2.0, C.I0E_B) / B.sqrt(ys)
    else:
        near = ys * cheb(ys * 0.5 - 2.0, C.I1E_A)
        far = cheb(32.0 / ys - 2.0, C.I1E_B) / B.sqrt(ys)
    out = B.where(y <= 8.0, near, far)
    out = B.where(B.isinf(y), 0.0, out)
    if nu:  # I1 is odd: -0 at -inf, +0 at -0 (TF's). A product, not a Where: onnxruntime's
        out = out * B.where(x < 0.0, -1.0, 1.0)  # Where gives +0 for a selected -0.
    return B.where(B.isnan(x), NAN, out)


def bessel_i(B, nu: int, x):
    """I_nu(x) = e^|x| I_nu e(x), or e^(|x| + log|I_nu e|) with its sign past 700 (where e^|x|
    alone overflows); NaN at +-inf (as TF)."""
    scaled = bessel_i_scaled(B, nu, x)
    ax = B.abs(x)
    mag = B.exp(ax + B.log(B.abs(scaled)))
    far = B.where(scaled < 0.0, -mag, mag)
    out = B.where(ax < 700.0, B.exp(B.where(ax < 700.0, ax, 0.0)) * scaled, far)
    out = B.where(B.eq(scaled, 0.0), scaled, out)
    return B.where(B.isinf(x), NAN, out)


def _k_near(B, nu: int, xs):
    """K_nu(x) for 0 < x <= 2 (Cephes: Chebyshev series plus the logarithmic I_nu term)."""
    lg = B.log(0.5 * xs)
    if nu == 0:
        return cheb(xs * xs - 2.0, C.K0_A) - lg * (B.exp(xs) * bessel_i_scaled(B, 0, xs))
    return lg * (B.exp(xs) * bessel_i_scaled(B, 1, xs)) + cheb(xs * xs - 2.0, C.K1_A) / xs


def bessel_k(B, nu: int, x, scaled: bool):
    """K_nu(x) or e^x K_nu(x), nu = 0 or 1: +inf for x <= 0, 0 at +inf, NaN for NaN."""
    ok = (x > 0.0) & ~B.isinf(x)
    xs = B.where(ok, x, 1.0)
    near = _k_near(B, nu, B.where(xs <= 2.0, xs, 1.0))
    xf = B.where(xs > 2.0, xs, 3.0)
    far = cheb(8.0 / xf - 2.0, C.K0_B if nu == 0 else C.K1_B) / B.sqrt(xf)
    out = B.where(xs <= 2.0, near * B.exp(xs), far) if scaled else \
        B.where(xs <= 2.0, near, far * B.exp(-xf))
    out = B.where(B.eq(x, INF), 0.0, out)
    out = B.where(x <= 0.0, INF, out)
    return B.where(B.isnan(x), NAN, out)


def _hankel(B, nu: int, kind: str, y, phase_dt: np.dtype):
    """J_nu (kind "j") or Y_nu at y > 5 by Cephes' modulus and phase rationals; float32 (and
    narrower) inputs add the phase to y in float32 past 25, as TF's single-precision kernels
    (whose digits there decide the result)."""
    pp, pq, qp, qq = (C.J0_PP, C.J0_PQ, C.J0_QP, C.J0_QQ) if nu == 0 else (C.J1_PP, C.J1_PQ, C.J1_QP, C.J1_QQ)
    s = 25.0 / (y * y)
    p = poly(s, pp) / poly(s, pq)
    q = (5.0 / y) * (poly(s, qp) / poly(s, qq))
    shift = PI / 4 if nu == 0 else 3 * PI / 4
    amp = 0.79788456080286535588 / B.sqrt(y)
    chi = y - shift
    wide = amp * (p * B.cos(chi) - q * B.sin(chi)) if kind == "j" else amp * (p * B.sin(chi) + q * B.cos(chi))
    if phase_dt == F64:
        return wide
    phi = _atan_series(q / p)
    mag = amp * B.sqrt(p * p + q * q)
    chi32 = B.add_in(B.rounded(y, phase_dt), B.rounded(phi - shift, phase_dt), phase_dt)
    narrow = mag * (B.cos(chi32) if kind == "j" else B.sin(chi32))
    return B.where(y > 25.0, narrow, wide)


def _atan_series(t):
    """atan(t) for |t| < 0.05: t - t^3/3 + t^5/5 - ... to t^13 (error below 1e-20)."""
    return t * poly(t * t, [1 / 13, -1 / 11, 1 / 9, -1 / 7, 1 / 5, -1 / 3, 1.0])


def bessel_jy(B, kind: str, nu: int, x, dt: np.dtype):
    """J_0, J_1 (even / odd; NaN at +-inf) or Y_0, Y_1 (-inf for x <= 0, NaN at +inf; float32
    Y_1 is NaN at +-0, as TF), Cephes' rationals below 5 and modulus/phase above."""
    phase_dt = F64 if dt == F64 else np.dtype(np.float32)
    y = B.abs(x) if kind == "j" else x
    ok = (y > 0.0) & ~B.isinf(y)
    yv = B.where(ok, y, 1.0)
    yn = B.where(yv <= 5.0, yv, 1.0)
    z = yn * yn
    if nu == 0:
        j_near = (z - 5.78318596294678452118) * (z - 30.4712623436620863991) * (poly(z, C.J0_RP) / poly(z, C.J0_RQ))
        j_near = B.where(yn < 1e-5, 1.0 - 0.25 * z, j_near)
    else:
        j_near = (poly(z, C.J1_RP) / poly(z, C.J1_RQ)) * yn * (z - 14.6819706421238932572) * (z - 49.2184563216946036703)
    if kind == "j":
        near = j_near
    elif nu == 0:
        near = poly(z, C.Y0_YP) / poly(z, C.Y0_YQ) + 0.636619772367581343075535 * B.log(yn) * j_near
    else:
        near = yn * (poly(z, C.Y1_YP) / poly(z, C.Y1_YQ)) + \
            0.636619772367581343075535 * (j_near * B.log(yn) - 1.0 / yn)
    far = _hankel(B, nu, kind, B.where(yv > 5.0, yv, 6.0), phase_dt)
    out = B.where(yv <= 5.0, near, far)
    if kind == "j":
        out = B.where(B.eq(y, 0.0), 1.0 - nu, out)
        if nu:  # odd, -0 at -0 (TF's): a product keeps the sign where a Where would not
            out = out * B.where(signbit(B, x), -1.0, 1.0)
        return B.where(B.isinf(x) | B.isnan(x), NAN, out)
    zero = NAN if (nu and phase_dt == np.float32) else -INF
    out = B.where(x <= 0.0, zero, out)
    out = B.where(x < 0.0, -INF, out)
    return B.where(B.eq(x, INF) | B.isnan(x), NAN, out)
