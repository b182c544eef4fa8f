"""The special functions' ONNX graphs against the numpy runtime's kernels, over wide ranges.

test_ops_tf.py checks TensorFlow's recorded cases at rtol 1e-4; here each function runs on a
few thousand float64 inputs spanning its regimes (series, rational pieces, asymptotic tails,
loops), poles, domain edges, signed zeros, infinities and NaN, and the exported graph on
onnxruntime must give the runtime kernel's NaN/infinity pattern exactly and its finite values
to a stated number of float64 ulps. The ulps are of ``max(|want|, floor)``: ``floor`` is the
function's own scale where it crosses zero (the Bessel and Fresnel oscillations, lgamma's and
digamma's roots, ndtri at 1/2), where both sides' absolute error, not a relative one, is what
the methods bound. The bounds hold the measured errors with a margin under 2x (the measured
maxima are in docs/onnx.md); float32 inputs are checked too, to a few float32 ulps.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import node, placeholder
from onnx_export._cases import exported, signature

ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402

RS = np.random.RandomState(7)
EDGES = [0.0, -0.0, np.inf, -np.inf, np.nan]


def _span(lo: float, hi: float, n: int = 1500, log: bool = False) -> np.ndarray:
    if log:
        return np.exp(RS.uniform(np.log(lo), np.log(hi), n))
    return RS.uniform(lo, hi, n)


REALS = np.concatenate([_span(-60, 60), _span(1e-9, 1e5, log=True), -_span(1e-9, 1e5, log=True),
                        np.arange(-8, 9, 0.5), [1e-300, -1e-300, 170.5, 171.7, 1e10, -1e10, 1e300, -1e300], EDGES])
POSITIVE = np.concatenate([_span(1e-9, 1e4, log=True), _span(0, 12), np.arange(0, 70, 2.0),
                           [1e-300, 700, 710, 1e300, -1, -1e-300], EDGES])
UNIT = np.concatenate([_span(-1, 1), 1 - np.logspace(-15, -1, 30), -1 + np.logspace(-15, -1, 30),
                       [1, -1, 1.5, -1.5], EDGES])
PROB = np.concatenate([_span(0, 1), np.exp(-_span(0.01, 740, log=True)), 1 - np.exp(-_span(0.01, 36, log=True)),
                       [0, 1, -0.5, 2, 1e-300], EDGES])

# op -> (inputs, bound in float64 ulps, floor of the scale the ulps are of). Erfinv and Ndtri near
# 1/2 (and the Fresnel integrals near 2.4, I0/I1 past 100) are bounded by the runtime's error, not
# the graph's: see test_where_the_runtime_rounds_worse.
UNARY = {
    "Lgamma": (REALS, 32, 1.0), "Digamma": (REALS, 32, 1.0), "Erfinv": (UNIT, 64, 0.05),
    "Ndtri": (PROB, 64, 0.05), "Dawsn": (REALS, 64, 0.0), "Expint": (POSITIVE, 16, 1.0),
    "Spence": (POSITIVE, 24, 0.0), "FresnelCos": (REALS, 320, 1.0), "FresnelSin": (REALS, 320, 1.0),
    "BesselI0": (REALS, 320, 0.0), "BesselI1": (REALS, 320, 0.0), "BesselI0e": (REALS, 16, 0.0),
    "BesselI1e": (REALS, 16, 0.0), "BesselK0": (POSITIVE, 48, 0.0), "BesselK1": (POSITIVE, 16, 0.0),
    "BesselK0e": (POSITIVE, 48, 0.0), "BesselK1e": (POSITIVE, 16, 0.0),
    "BesselJ0": (REALS, 32, "envelope"), "BesselJ1": (REALS, 32, "envelope"),
    "BesselY0": (POSITIVE, 48, "envelope"), "BesselY1": (POSITIVE, 48, "envelope"),
}


def _grid(*axes: np.ndarray) -> list[np.ndarray]:
    return [g.reshape(-1) for g in np.meshgrid(*axes, indexing="ij")]


_A = np.concatenate([_span(1e-3, 300, 40, log=True), [1, 2, 0.5, 1e4] + EDGES + [-1]])
_X = np.concatenate([_span(1e-3, 400, 40, log=True), [1, 2, 1e4] + EDGES + [-1]])
_S = np.concatenate([_span(1, 60, 30), [1, 1.5, 2, 3, 4, 5, 10, 0.5, -1] + EDGES])
_Q = np.concatenate([_span(1e-3, 1e3, 30, log=True), [-2.5, -2, -1, -0.5, 0.25, 1, 9.5] + EDGES])
_N = np.array([0, 1, 2, 3, 4, 5, 7, 10, 0.5, -1, 1e300] + EDGES)
_PX = np.concatenate([_span(-30, 60, 30), [-2.5, -1, -0.5, 0.25, 1, 2.5, 100, 1e6] + EDGES])
_BA = np.concatenate([_span(1e-2, 200, 14, log=True), [1, 0.5, 1e-3] + EDGES + [-1]])
_BX = np.concatenate([RS.uniform(0, 1, 14), [0, 1e-6, 0.5, 1 - 1e-9, 1, -0.1, 1.1, np.nan]])



def _complement_p(a, x):
    """1 where P(a, x) is 1 - Q (Q's continued fraction), 0 elsewhere."""
    return ((x > 1) & (x > a)).astype(np.float64)


def _complement_betainc(a, b, x):
    """1 where I_x(a, b) is 1 - I_(1-x)(b, a), 0 elsewhere."""
    with np.errstate(all="ignore"):
        return (x >= (a + 1) / (a + b + 2)).astype(np.float64)


# op -> (input names, inputs, bound in float64 ulps, floor). The incomplete gamma and beta
# functions carry the rounding of their prefactor exp(a log x - x - lgamma(a)) (its argument
# reaches hundreds: ~|argument| ulps), and where the result is 1 minus the other branch that
# error is absolute (the floor is 1 there).
NARY = {
    "Igamma": (("a", "x"), _grid(_A, _X), 2048, _complement_p),
    "Igammac": (("a", "x"), _grid(_A, _X), 2048, lambda a, x: 1 - _complement_p(a, x)),
    "Zeta": (("x", "q"), _grid(_S, _Q), 16, 0.0),
    "Polygamma": (("a", "x"), _grid(_N, _PX), 64, 0.0),
    "Betainc": (("a", "b", "x"), _grid(_BA, _BA, _BX), 2048, _complement_betainc),
}


def _run(op: str, names: tuple[str, ...], args: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(onnxruntime's output of the exported op, the numpy runtime's)."""
    dt = args[0].dtype
    t = dtypes.from_numpy(dt)
    nodes = [placeholder(n, t) for n in names] + [node("y", op, list(names), T=("type", t))]
    mg = signature(nodes, {n: (t, (None,)) for n in names}, {"y": ("y:0", t, (None,))})
    proto, problems = exported(mg)
    assert not problems, problems
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, dict(zip(names, args)))[0]
    want = runtime.Session(mg).run_signature("s", dict(zip(names, args)))["y"]
    return got, np.asarray(want)


def _ulps(got: np.ndarray, want: np.ndarray, floor, args: list[np.ndarray], dt) -> np.ndarray:
    """Errors in ulps of max(|want|, floor) at the finite values (after the NaN/inf checks)."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok & np.isinf(want)], want[ok & np.isinf(want)])
    fin = ok & np.isfinite(want)
    assert np.isfinite(got[fin]).all()
    if callable(floor):
        floor = floor(*(a.astype(np.float64) for a in args))[fin]
    elif isinstance(floor, str):  # the Bessel J/Y envelope sqrt(2 / (pi x)), and 1 below 1
        floor = np.sqrt(2 / (np.pi * np.maximum(np.abs(args[0][fin].astype(np.float64)), 1.0)))
    scale = np.maximum(np.abs(want[fin]).astype(np.float64), floor)
    scale = np.maximum(scale, np.finfo(dt).tiny)
    return np.abs(got[fin].astype(np.float64) - want[fin]) / (scale * np.finfo(dt).eps)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_float64_to_a_few_ulps(op):
    x, bound, floor = UNARY[op]
    got, want = _run(op, ("x",), [x.astype(np.float64)])
    err = _ulps(got, want, floor, [x], np.float64)
    assert err.max() <= bound, (op, float(err.max()), float(x[np.isfinite(want) & ~np.isnan(want)][np.argmax(err)]))


@pytest.mark.parametrize("op", sorted(NARY))
def test_nary_float64_to_a_few_ulps(op):
    names, args, bound, floor = NARY[op]
    got, want = _run(op, names, [a.astype(np.float64) for a in args])
    err = _ulps(got, want, floor, args, np.float64)
    assert err.max() <= bound, (op, float(err.max()))


@pytest.mark.parametrize("op", sorted(UNARY) + sorted(NARY))
def test_float32_to_float32_rounding(op):
    """float32 inputs: the runtime's float32 results (TF's single-precision phases included) to
    a float32 ulp or two of the same scale."""
    if op in UNARY:
        names, args, floor = ("x",), [UNARY[op][0]], UNARY[op][2]
    else:
        names, args, _, floor = NARY[op]
    with np.errstate(all="ignore"):
        args = [a.astype(np.float32) for a in args]
    got, want = _run(op, names, args)
    assert got.dtype == want.dtype == np.float32
    err = _ulps(got, want, floor, args, np.float32)
    assert err.max() <= 2.0, (op, float(err.max()))


# Points where the runtime's kernel is further from the true value than the graph (the true
# values computed with mpmath 1.4 at 50 digits, rounded to float64): the runtime's erfc continued
# fraction near 2.4 (Fresnel), Halley steps on erfc near 1/2 and in the tail (ndtri, erfinv),
# e^(|x| + log I_nu e) (I0, I1). TensorFlow's answers at these points are the true ones too. The
# graph must give these to 4 ulps.
TRUE = [
    ("FresnelCos", 2.5, 0.45741300964177706),
    ("FresnelCos", 2.399489169296716, 0.5554360009418092),
    ("FresnelSin", -2.4782638933801002, -0.625754694944041),
    ("Ndtri", 0.5004070432935741, 0.0010203064056991918),
    ("Ndtri", 0.004555418529462039, -2.6078669088561406),
    ("Erfinv", 0.9938820625884175, 1.938457235832194),
    ("BesselI0", -534.801394679316, 3.1492709497242407e+230),
    ("BesselI1", 1e-300, 5e-301),
    ("BesselI1", 642.7825898798894, 2.2571285617938243e+277),
    ("BesselY1", 1e-300, -6.366197723675813e+299),
]


@pytest.mark.parametrize("op,x,true", TRUE, ids=[f"{op}({x})" for op, x, _ in TRUE])
def test_where_the_runtime_rounds_worse(op, x, true):
    got, _ = _run(op, ("x",), [np.asarray([x], np.float64)])
    assert abs(float(got[0]) - true) <= 4 * np.spacing(abs(true)), (op, x, float(got[0]), true)


@pytest.mark.parametrize("opset", [15, 17, 21])
@pytest.mark.parametrize("op,names", [("Igammac", ("a", "x")), ("BesselY1", ("x",)), ("Zeta", ("x", "q"))])
def test_every_opset(op, names, opset):
    """The element-wise ops, Loop and ReduceSum the graphs use have one form from opset 15 on."""
    t = dtypes.from_numpy(np.dtype(np.float32))
    nodes = [placeholder(n, t) for n in names] + [node("y", op, list(names), T=("type", t))]
    mg = signature(nodes, {n: (t, (None,)) for n in names}, {"y": ("y:0", t, (None,))})
    proto, problems = exported(mg, opset)
    assert not problems, problems
    args = [np.asarray([0.5, 2.0, 7.5, 30.0], np.float32) + i for i in range(len(names))]
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, dict(zip(names, args)))[0]
    want = runtime.Session(mg).run_signature("s", dict(zip(names, args)))["y"]
    np.testing.assert_allclose(got, want, rtol=2e-7)


def test_betainc_inputs_of_different_shapes_are_refused():
    """TF's kernel requires its non-scalar inputs to share one shape (no broadcasting)."""
    t = dtypes.from_numpy(np.dtype(np.float64))
    names = ("a", "b", "x")
    nodes = [placeholder(n, t) for n in names] + [node("y", "Betainc", list(names), T=("type", t))]
    mg = signature(nodes, {"a": (t, (3,)), "b": (t, (2,)), "x": (t, ())}, {"y": ("y:0", t, None)})
    proto, problems = exported(mg)
    assert proto is None and "inconsistent" in problems[0].reason, problems


@pytest.mark.parametrize("op", sorted(UNARY))
def test_onnxruntime_adds_little_to_the_method(op):
    """The same steps in numpy (``_specfn.Numpy``) and on onnxruntime agree to a few ulps, so the
    bounds above are the methods' against the runtime's, not onnxruntime's float64 kernels."""
    from savedmodel_io.onnx.ops import _specfn as S
    from savedmodel_io.onnx.ops import special

    x = UNARY[op][0].astype(np.float64)
    got, _ = _run(op, ("x",), [x])
    fn = {o: f for o, f, _ in special.UNARY_METHODS}[op]
    with np.errstate(all="ignore"):
        mine = np.asarray(fn(S.Numpy, x, np.dtype(np.float64)), np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(mine))
    fin = np.isfinite(mine)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(mine)], mine[~fin & ~np.isnan(mine)])
    floor = UNARY[op][2]
    if isinstance(floor, str):
        floor = np.sqrt(2 / (np.pi * np.maximum(np.abs(x[fin]), 1.0)))
    scale = np.maximum(np.maximum(np.abs(mine[fin]), floor), np.finfo(np.float64).tiny)
    err = np.abs(got[fin] - mine[fin]) / (scale * np.finfo(np.float64).eps)
    assert err.max() <= 16, (op, float(err.max()))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(UNARY))
def test_signed_zeros(op, dt):
    """Zeros carry the runtime's (TensorFlow's) sign: J1(-0) and I1e(-inf) are -0, odd functions
    underflowing on the negative side -0, the rest +0 (onnxruntime's Where gives +0 for a selected
    -0, so the odd functions' signs are products)."""
    x = np.asarray([0.0, -0.0, np.inf, -np.inf, 1e-300, -1e-300, 1e-30, -1e-30], dt)
    got, want = _run(op, ("x",), [x])
    zero = want == 0
    np.testing.assert_array_equal(got[zero], want[zero])
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]), err_msg=f"{op} at {x[zero]}")
