"""Mappings whose plain ONNX form cancels: checked to a few ulps, not the harness's rtol 1e-4.

Expm1 near 0 as Exp - 1 and Log1p near 0 as Log(1 + x) lose every digit below the rounding of
1 + x (exp(1e-10) - 1 is 0 in float32); test_ops_tf.py's tolerance (rtol 1e-4, atol 1e-5)
cannot see that. Compared with numpy's expm1/log1p (TensorFlow's kernels are Eigen's accurate
ones), relative error only.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import node, placeholder
from onnx_export._cases import exported, signature

ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes  # noqa: E402

_X = np.concatenate([[0.0, -0.0, 1e-30, -1e-30, 1e-10, -1e-10, 3e-8, -3e-8, 1e-4, -1e-4, 0.5, -0.5, 2, -2,
                      30, -30, 88, -88, 1e4, -1e4, np.inf, -np.inf, np.nan],
                     np.logspace(-12, 1, 40), -np.logspace(-12, 1, 40)])


@pytest.mark.parametrize("op,ref", [("Expm1", np.expm1), ("Log1p", np.log1p)])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_near_zero_to_a_few_ulps(op, ref, dt):
    x = _X.astype(dt)
    if op == "Log1p":
        x = np.concatenate([x[(x > -1) | np.isnan(x)], np.asarray([-1, -2, np.nextafter(-1, 0)], dt)])
    t = dtypes.from_numpy(np.dtype(dt))
    proto, problems = exported(signature([placeholder("x", t), node("y", op, ["x"], T=("type", t))],
                                         {"x": (t, (None,))}, {"y": ("y:0", t, (None,))}))
    assert not problems, problems
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with np.errstate(all="ignore"):
        want = ref(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.isinf(got[ok]), np.isinf(want[ok]))
    finite = ok & np.isfinite(want)
    ulps = 8 if dt == np.float32 else 64  # float64 Exp/Log of onnxruntime round a little wider
    np.testing.assert_allclose(got[finite], want[finite], rtol=ulps * np.finfo(dt).eps, atol=0)


@pytest.mark.parametrize("op,ref", [("Expm1", np.expm1), ("Log1p", np.log1p)])
def test_complex_near_zero(op, ref):
    """The complex forms keep the same accuracy: |error| within a few ulps of |f(z)|."""
    from savedmodel_io.proto import DataType

    f32, c64 = DataType.DT_FLOAT, DataType.DT_COMPLEX64
    mags = np.concatenate([np.logspace(-9, 0.5, 30), [0.0]])
    angles = np.linspace(-np.pi, np.pi, 7)
    z = (mags[:, None] * np.exp(1j * angles)[None, :]).reshape(-1).astype(np.complex64)
    t = ("type", c64)
    nodes = [placeholder("re"), placeholder("im"),
             node("z", "Complex", ["re", "im"], T=("type", f32), Tout=t), node("y", op, ["z"], T=t),
             node("yr", "Real", ["y"], T=t, Tout=("type", f32)), node("yi", "Imag", ["y"], T=t, Tout=("type", f32))]
    proto, problems = exported(signature(nodes, {"re": (f32, (None,)), "im": (f32, (None,))},
                                         {"r": ("yr:0", f32, (None,)), "i": ("yi:0", f32, (None,))}))
    assert not problems, problems
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"re": z.real.copy(), "im": z.imag.copy()})))
    r, i = got["r"], got["i"]
    want = ref(z.astype(np.complex128))
    err = np.abs((r + 1j * i.astype(np.float64)) - want)
    assert (err <= 16 * np.finfo(np.float32).eps * np.abs(want) + 1e-45).all(), float((err / np.abs(want)).max())


def _special_floats(dt) -> np.ndarray:
    """Every kind of float: signed zeros, subnormals, powers of two and their neighbours, the
    largest finite, infinities, NaN, and random bit patterns (all exponents)."""
    fi = np.finfo(dt)
    uint = np.uint32 if dt == np.float32 else np.uint64
    powers = np.ldexp(np.asarray(1, dt), np.arange(fi.minexp - fi.nmant, fi.maxexp).astype(np.int32)).astype(dt)
    base = np.concatenate([[0, fi.smallest_subnormal, 2 * fi.smallest_subnormal, fi.smallest_normal, 1, 1.5, 3,
                            fi.max, np.inf, np.nan], powers, np.nextafter(powers, dt(0)),
                           np.nextafter(powers, dt(np.inf))]).astype(dt)
    rs = np.random.RandomState(5)
    bits = rs.randint(0, 2**31, size=(4000, 2)).astype(np.uint64)
    randoms = ((bits[:, 0] << np.uint64(32)) | bits[:, 1]).astype(uint).view(dt) if dt == np.float64 else \
        bits[:, 0].astype(np.uint32).view(dt)
    return np.concatenate([base, -base, randoms])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_next_after_is_bit_exact(dt):
    """NextAfter has no ONNX operator or bit cast: its exponent arithmetic must give C's
    nextafter bit for bit, in both directions from every kind of float."""
    t = dtypes.from_numpy(np.dtype(dt))
    proto, problems = exported(signature(
        [placeholder("x", t), placeholder("y", t), node("z", "NextAfter", ["x", "y"], T=("type", t))],
        {"x": (t, (None,)), "y": (t, (None,))}, {"z": ("z:0", t, (None,))}))
    assert not problems, problems
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = _special_floats(dt)
    rs = np.random.RandomState(6)
    targets = [np.full_like(x, np.inf), np.full_like(x, -np.inf), np.zeros_like(x), -np.zeros_like(x), x,
               np.full_like(x, np.nan), rs.permutation(x)]
    for y in targets:
        got = sess.run(None, {"x": x, "y": y})[0]
        want = np.nextafter(x, y)
        same = (got.view(np.uint8).reshape(len(x), -1) == want.view(np.uint8).reshape(len(x), -1)).all(1)
        same |= np.isnan(got) & np.isnan(want)
        bad = np.flatnonzero(~same)[:5]
        assert same.all(), [(x[i], y[i], got[i], want[i]) for i in bad]
