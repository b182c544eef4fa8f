"""Special-function kernels against ``tf.raw_ops`` (differential test, see raw_ops_harness).

Inputs span each function's regimes (series, continued fraction, asymptotic), its poles and
domain edges, and the infinities and NaN, in float32 and float64 (and float16 where TF
registers it). Float32 cases stay where TF's single-precision kernels are accurate to
float32 (far out, e.g. igamma at a = 1000, they lose digits our float64 evaluation keeps).
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import Cases

CASES = Cases(seed=4301)
add = CASES.add
RS = CASES.rs

EDGES = [0.0, -0.0, np.inf, -np.inf, np.nan]
REALS = np.array([-30, -7.5, -3.25, -1, -0.5, -1e-3, 1e-3, 0.1, 0.5, 0.9, 1, 1.4616, 1.5, 2,
                  2.5, 3, 5, 7.5, 10, 24.5, 25.5, 30, 60, 100, 250, 1000, 1e5] + EDGES)
POSITIVE = np.array([1e-30, 1e-8, 1e-3, 0.1, 0.5, 1, 1.5, 1.99, 2, 2.01, 3, 5, 10, 25, 30.5,
                     50, 100, 500, 700, 1e4, 1e8] + EDGES + [-1, -2.5])
UNIT = np.array([-1.5, -1, -0.999999, -0.9, -0.5, -0.1, 0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99,
                 0.999999, 1, 1.5, np.nan])
PROB = np.array([-0.5, 0, 1e-300, 1e-30, 1e-8, 1e-3, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975,
                 0.999, 1 - 1e-9, 1, 2, np.nan])

UNARY = {
    "Lgamma": REALS, "Digamma": REALS, "Erf": REALS, "Erfc": REALS, "Erfinv": UNIT,
    "Ndtri": PROB, "Dawsn": REALS, "Expint": POSITIVE, "Spence": POSITIVE,
    "FresnelCos": np.append(REALS, [3000.5, 4e4]), "FresnelSin": np.append(REALS, [3000.5, 4e4]),
    "BesselI0": REALS, "BesselI1": REALS, "BesselI0e": REALS, "BesselI1e": REALS,
    "BesselK0": POSITIVE, "BesselK1": POSITIVE, "BesselK0e": POSITIVE, "BesselK1e": POSITIVE,
    "BesselJ0": np.append(REALS, [1e4 + 0.5, 3e6]), "BesselJ1": np.append(REALS, [1e4 + 0.5, 3e6]),
    "BesselY0": np.append(POSITIVE, [1e4 + 0.5, 3e6]),
    "BesselY1": np.append(POSITIVE, [1e4 + 0.5, 3e6]),
}
HALF = {"Lgamma", "Digamma", "Erf", "Erfc"} | {op for op in UNARY if op.startswith("Bessel")}


def _unary() -> None:
    for op, values in UNARY.items():
        for dt in ("float32", "float64"):
            with np.errstate(all="ignore"):
                add(op, dt, x=values.astype(dt))
        add(op, "random", x=(RS.standard_normal((3, 4)) * 4).astype(np.float64))
        if op in HALF:
            with np.errstate(all="ignore"):
                add(op, "float16", x=np.clip(values, -60, 60).astype(np.float16))
    add("Lgamma", "poles", x=np.arange(-6, 1, dtype=np.float64))
    add("Digamma", "poles", x=np.arange(-6, 1, dtype=np.float32))
    add("Erfinv", "tails", x=1 - np.logspace(-15, -1, 15))
    add("Ndtri", "tails", x=np.logspace(-300, -1, 30))
    add("Erfc", "tail", x=np.linspace(2, 27, 26))
    add("Erf", "huge", x=np.array([1e154, 2e154, 1e300], np.float64))
    add("Expint", "huge", x=np.array([1e37, 1e38, 3e38], np.float32))
    add("Dawsn", "huge", x=np.array([-9.99e8, -1e9, -2e9, 3e9, -1e300], np.float64))
    add("Dawsn", "huge32", x=np.array([-9.99e8, -1e9, -2e9, 3e9, -3e38], np.float32))
    add("Spence", "huge", x=np.array([1e300, 9e307, 1e308], np.float64))
    add("BesselY1", "zero32", x=np.float32([0, -0.0, -1]))
    add("BesselJ0", "large32", x=np.float32([3000.25, 12628.946, 31732.223, 2e5, 1e10]))
    add("BesselY1", "large32", x=np.float32([1261.9254, 5026.1304, 2e5, 1e10]))
    add("FresnelCos", "large32", x=np.float32([1261.9254, 2000.3241, 12628.946, 36000]))
    add("FresnelSin", "large32", x=np.float32([1261.9254, 2000.3241, 12628.946, 36000]))


def _binary() -> None:
    a = np.array([1e-3, 0.5, 1, 2.5, 7, 20, 60, 150] + EDGES + [-1])
    x = np.array([1e-3, 0.3, 1, 2, 4, 10, 30, 80, 200] + EDGES + [-1])
    ga, gx = (v.reshape(-1) for v in np.meshgrid(a, x, indexing="ij"))
    for op in ("Igamma", "Igammac"):
        add(op, "float64", a=ga, x=gx)
        small = (np.abs(ga) < 30) & (np.abs(gx) < 40) | ~np.isfinite(ga) | ~np.isfinite(gx)
        add(op, "float32", a=ga[small].astype(np.float32), x=gx[small].astype(np.float32))
        add(op, "bcast", a=np.float64(3.5), x=np.linspace(0, 10, 7).reshape(7, 1))
        add(op, "bad_shapes", a=np.ones(3), x=np.ones(4))
    s = np.array([1, 1.5, 2, 3, 4, 5, 10.5, 40, 0.5, -1] + EDGES)
    q = np.array([-2.5, -2, -1, -0.5, 0.25, 1, 2, 9.5, 30] + EDGES)
    gs, gq = (v.reshape(-1) for v in np.meshgrid(s, q, indexing="ij"))
    add("Zeta", "float64", x=gs, q=gq)
    add("Zeta", "float32", x=gs.astype(np.float32), q=np.where(gq < 0, 2.0, gq).astype(np.float32))
    n = np.array([0, 1, 2, 3, 4, 7, 0.5, -1] + EDGES)
    px = np.array([-2.5, -1, -0.5, 0.25, 1, 2.5, 10, 100] + EDGES)
    gn, gp = (v.reshape(-1) for v in np.meshgrid(n, px, indexing="ij"))
    add("Polygamma", "float64", a=gn, x=gp)
    add("Polygamma", "float32", a=gn.astype(np.float32),
        x=np.where(gp < 0, 3.0, gp).astype(np.float32))
    for dt in ("float32", "float64", "float16", "complex64", "complex128"):
        xs = np.array([0, 0, 1, -2, 3.5, np.nan, 0, 2], dt)
        ys = np.array([np.nan, -1, 0.5, 0.25, -0.75, 1, np.inf, -1], dt)
        add("Xlog1py", dt, x=xs, y=ys)
        add("Xlogy", dt, x=xs, y=ys)
        add("Xdivy", dt, x=xs, y=ys)
    for dt in ("float32", "float64"):
        add("NextAfter", dt, x1=np.array([0, 1, -1, np.inf, 1, np.nan, 0, -0.0], dt),
            x2=np.array([1, 0, -np.inf, 0, 1, 0, -1, 1], dt))
    add("NextAfter", "bcast", x1=np.float32([[1], [2]]), x2=np.float32([0, 3]))


def _betainc() -> None:
    v = np.array([1e-3, 0.5, 1, 2.5, 10, 80] + EDGES + [-1])
    xs = np.array([0, 1e-4, 0.1, 0.35, 0.5, 0.8, 0.999, 1, -0.1, 1.1, np.nan])
    ga, gb, gx = (g.reshape(-1) for g in np.meshgrid(v, v, xs, indexing="ij"))
    add("Betainc", "float64", a=ga, b=gb, x=gx)
    keep = ~((ga > 10) | (gb > 10)) | ~np.isfinite(ga) | ~np.isfinite(gb)
    add("Betainc", "float32", a=ga[keep].astype(np.float32), b=gb[keep].astype(np.float32),
        x=gx[keep].astype(np.float32))
    add("Betainc", "scalar_ab", a=np.float64(2), b=np.float64(3), x=np.linspace(0, 1, 6))
    add("Betainc", "scalar_x", a=np.full((2, 3), 2.0), b=np.full((2, 3), 0.5), x=np.float64(0.3))
    add("Betainc", "mismatch", a=np.ones(3), b=np.ones(2), x=np.float64(0.5))
    add("Betainc", "mismatch_x", a=np.ones(3), b=np.float64(1), x=np.ones((3, 1)) / 2)


_unary()
_binary()
_betainc()

test_kernel_matches_tensorflow = CASES.test()
