"""Winograd F(2x2, 3x3) convolutions (graph/ops/_winograd.py) against a float64 direct
convolution, with and without the C transforms, over the shapes that pick each way of
splitting the work (row pieces, one piece, output-channel blocks) and the fused epilogues."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from savedmodel_io.graph import runtime
from savedmodel_io.graph.ops import _winograd, get, nn
from savedmodel_io.graph.ops._accel import accel

RS = np.random.RandomState(2026)


def f32(*shape):
    return RS.standard_normal(shape).astype(np.float32)


def direct(x, w, pads):
    """The convolution in float64, tap by tap (NHWC, stride 1)."""
    xp = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    oh, ow = xp.shape[1] - 2, xp.shape[2] - 2
    y = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i in range(3):
        for j in range(3):
            y += xp[:, i:i + oh, j:j + ow] @ w[i, j].astype(np.float64)
    return y


def conv(op, inputs, threads, prepared=False, **attrs):
    """One kernel call as a run with ``threads`` threads makes it (optionally with the
    optimiser's pre-laid-out filter)."""
    n = runtime.Node("n", op, {"strides": [1, 1, 1, 1], "dilations": [1, 1, 1, 1],
                               "data_format": b"NHWC", "explicit_paddings": [], **attrs}, 0, "t")
    n.bind({})
    if prepared:
        n.prepared = nn._prepare_conv(n, {1: inputs[1]})
    with np.errstate(all="ignore"):
        return get(op).fn(n, list(inputs), SimpleNamespace(threads=threads))


SHAPES = [  # (x, w, padding): odd sizes, batches, one pixel, few and many tiles
    ((2, 9, 11, 16), (3, 3, 16, 8), b"SAME"),
    ((1, 8, 7, 24), (3, 3, 24, 5), b"VALID"),
    ((3, 1, 1, 16), (3, 3, 16, 4), b"SAME"),
    ((1, 6, 5, 32), (3, 3, 32, 80), b"SAME"),  # one image, few tiles: output-channel blocks
    ((2, 40, 38, 16), (3, 3, 16, 24), b"SAME"),  # several row pieces per image
]


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("prepared", [False, True])
@pytest.mark.parametrize("xs,ws,padding", SHAPES)
def test_winograd_matches_direct_convolution(monkeypatch, backend, threads, prepared, xs, ws,
                                             padding):
    if backend == "c" and accel is None:
        pytest.skip("the C accelerator is not built")
    if backend == "numpy":
        monkeypatch.setattr(_winograd, "accel", None)
    monkeypatch.setattr(_winograd, "_PIECE_BYTES", 1 << 14)  # many pieces even on small inputs
    x, w = f32(*xs), f32(*ws)
    got = conv("Conv2D", [x, w], threads, prepared, padding=padding)
    want = direct(x, w, [(1, 1), (1, 1)] if padding == b"SAME" else [(0, 0), (0, 0)])
    assert got.dtype == np.float32 and got.shape == want.shape
    # The float32 tolerance of the TF comparisons; outputs here are ~N(0, 9 * Cin).
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.sqrt(9 * ws[2]))


def test_winograd_is_as_accurate_as_im2col(monkeypatch):
    x, w = np.maximum(f32(1, 14, 14, 256), 0), f32(3, 3, 256, 64) * np.float32(0.03)
    want = direct(x, w, [(1, 1), (1, 1)])
    wino = conv("Conv2D", [x, w], 1, padding=b"SAME")
    monkeypatch.setattr(nn, "_WINOGRAD_MIN_CIN", 1 << 30)
    im2col = conv("Conv2D", [x, w], 1, padding=b"SAME")
    err_w, err_i = np.abs(wino - want).max(), np.abs(im2col - want).max()
    assert err_w <= 3 * err_i, (err_w, err_i)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("xs", [(2, 10, 9, 16), (1, 4, 4, 16)])
def test_winograd_runs_the_fused_epilogue(threads, xs):
    x, w = f32(*xs), f32(3, 3, 16, 64)
    bias, residual = f32(64), f32(*xs[:3], 64)
    got = conv("_FusedConv2D", [x, w, bias, residual], threads, True, padding=b"SAME",
               fused_ops=[b"BiasAdd", b"Add", b"Relu"])
    want = np.maximum(direct(x, w, [(1, 1), (1, 1)]) + bias + residual, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    # A residual that only broadcasts runs after the whole convolution.
    got = conv("_FusedConv2D", [x, w, bias, residual[:1]], threads, True, padding=b"SAME",
               fused_ops=[b"BiasAdd", b"Add"])
    want = direct(x, w, [(1, 1), (1, 1)]) + bias + residual[:1]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_other_convolutions_keep_im2col(monkeypatch):
    """Few input channels, float64, strides and dilations keep im2col (exact tap order)."""
    calls = []
    monkeypatch.setattr(nn, "winograd_conv", lambda *a: calls.append(a))
    conv("Conv2D", [f32(1, 6, 6, 3), f32(3, 3, 3, 8)], 1, padding=b"SAME")
    conv("Conv2D", [f32(1, 6, 6, 16).astype(np.float64), f32(3, 3, 16, 8).astype(np.float64)], 1,
         padding=b"SAME")
    conv("Conv2D", [f32(1, 6, 6, 16), f32(3, 3, 16, 8)], 1, padding=b"SAME",
         strides=[1, 2, 2, 1])
    conv("Conv2D", [f32(1, 9, 9, 16), f32(3, 3, 16, 8)], 1, padding=b"SAME",
         dilations=[1, 2, 2, 1])
    assert not calls
    conv("Conv2D", [f32(1, 6, 6, 16), f32(3, 3, 16, 8)], 1, padding=b"SAME")
    assert len(calls) == 1


def test_c_transforms_refuse_buffers_that_do_not_fit():
    if accel is None:
        pytest.skip("the C accelerator is not built")
    x, v = f32(5, 6, 4), np.zeros((16, 4, 4), np.float32)
    accel.wino_input(x, v, 5, 6, 4, -1, -1, 2, 2, 0, 4)
    # Windows past the image read zeros: all of them here.
    accel.wino_input(x, v, 5, 6, 4, 9, -20, 2, 2, 0, 4)
    assert not v.any()
    with pytest.raises(ValueError, match="geometry"):
        accel.wino_input(x, v, 6, 6, 4, 0, 0, 2, 2, 0, 4)  # more rows than x holds
    with pytest.raises(ValueError, match="geometry"):
        accel.wino_input(x, v, 5, 6, 4, 0, 0, 2, 2, 1, 4)  # tiles past v
    m, y = np.zeros((16, 4, 4), np.float32), np.zeros((3, 3, 4), np.float32)
    accel.wino_output(m, y, 2, 2, 4, 3, 3, 0, 4)
    with pytest.raises(ValueError, match="geometry"):
        y5 = np.zeros((5, 2, 4), np.float32)
        accel.wino_output(m, y5, 2, 2, 4, 5, 2, 0, 4)  # output rows past the tiles
    with pytest.raises(ValueError, match="geometry"):
        accel.wino_output(m, y, 2, 2, 4, 3, 3, 0, 5)  # more tiles than m holds
