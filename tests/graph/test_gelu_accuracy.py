"""The C exact GELU (float32 maths) against math.erfc, in every build of the loops this CPU has.

GELU(x) = 0.5 x erfc(z) with z = float32(x * float32(-1/sqrt 2)), the product TensorFlow's graph
rounds to float32 before its Erfc; the reference then evaluates erfc(z) and the rest in double.
Bounds (docs/run.md): relative 1e-6 from x = -4 up (where |GELU| >= 1.3e-4 and the error is the
fit's 1.2e-7 plus float32 rounding), 1e-5 further out, where erfc's argument -z^2 is rounded to
float32 (a relative error of |z^2| ulps), and 1e-35 absolute once |GELU| < 1e-30 (exp flushes
results below 2^-126 to 0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from savedmodel_io.graph.ops._accel import accel

from graph.accel_builds import build  # noqa: F401  (fixture: each build of the C loops)

pytestmark = pytest.mark.skipif(accel is None, reason="the C accelerators are not built")



def _sweep() -> np.ndarray:
    """About 1.95 million float32 inputs: every 997th float32 from 1e-30 to 16 with both signs,
    and even grids over [-16, 16] and the far tail [-13.5, -4]."""
    lo, hi = np.array([1e-30, 16.0], np.float32).view(np.int32)
    pos = np.arange(lo, hi, 997, dtype=np.int32).view(np.float32)
    return np.concatenate([pos, -pos, np.linspace(-16, 16, 100_001, dtype=np.float32),
                           np.linspace(-13.5, -4, 100_001, dtype=np.float32)])


def _reference(x: np.ndarray) -> np.ndarray:
    z = (x * np.float32(-0.70710678)).astype(np.float64)
    return 0.5 * x.astype(np.float64) * np.frompyfunc(math.erfc, 1, 1)(z).astype(np.float64)


def test_gelu_is_within_its_bounds_in_every_build(build):
    x = _sweep()
    got = np.empty_like(x)
    accel.gelu(x, got)
    ref = _reference(x)
    err = np.abs(got.astype(np.float64) - ref)
    normal = np.abs(ref) >= 1e-30
    near = normal & (x >= -4)
    far = normal & (x < -4)
    assert near.sum() > 1_000_000 and far.sum() > 100_000
    rel = err / np.maximum(np.abs(ref), 1e-300)
    assert (rel[near] <= 1e-6).all(), x[near][np.argmax(rel[near])]  # the worst input
    assert (rel[far] <= 1e-5).all(), x[far][np.argmax(rel[far])]
    assert (err[~normal] <= 1e-35).all()


def test_gelu_special_values_in_every_build(build):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38], np.float32)
    got = np.empty_like(x)
    with np.errstate(all="ignore"):
        accel.gelu(x, got)
        # what TensorFlow's graph gives: x * 0.5 * erfc(-x / sqrt 2) in float32
        want = x * np.float32(0.5) * np.array([1, 1, 2, 0, np.nan, 1, 1, 2, 0], np.float32)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_gelu_in_place_matches_out_of_place(build):
    x = (np.random.default_rng(0).standard_normal(1000) * 4).astype(np.float32)
    out = np.empty_like(x)
    accel.gelu(x, out)
    accel.gelu(x, x)
    assert np.array_equal(x.view(np.int32), out.view(np.int32))


def test_simd_refuses_a_build_it_does_not_have():
    chosen = accel.simd()
    with pytest.raises(ValueError, match="no sse9 build"):
        accel.simd("sse9")
    assert accel.simd() == chosen
