"""graph/ops/_gemm.py: float32 products on MKL (the ``mkl`` extra) equal numpy's, every layout."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from savedmodel_io.graph.ops import _gemm, nn

needs_mkl = pytest.mark.skipif(not _gemm.ACCELERATED, reason="the mkl extra is not installed")


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _close(got, want, k):
    # float32 sums of k products in another order: within a few ulps of the sum's magnitude
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.sqrt(k))


def _layouts(rng, m, k, n):
    """(a, b, out) in every layout BLAS can take, and some it cannot."""
    a, b = _f32(rng, m, k), _f32(rng, k, n)
    wide = _f32(rng, m, n + 9)
    yield a, b, None
    yield np.asfortranarray(a), b, None                        # a transposed in memory
    yield a, np.asfortranarray(b), None                        # b transposed in memory
    yield a, _f32(rng, k, n + 5)[:, 3:n + 3], None              # a column block of b
    yield _f32(rng, 2 * m, k)[::2], b, None                     # rows with a gap (lda > k)
    yield a, b, wide[:, 2:n + 2]                                # output rows with a gap
    yield a, b, np.empty((m, n), np.float32, order="F")        # output not row-major: numpy
    yield _f32(rng, m, 2 * k)[:, ::2], b, None                  # no unit stride: numpy
    yield a.astype(np.float64), b, None                         # another dtype: numpy


@needs_mkl
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 300, 5), (128, 768, 384), (300, 64, 256),
                                   (33, 2048, 17), (256, 0, 8), (0, 64, 64)])
def test_mkl_products_equal_numpy_in_every_layout(shape):
    rng = np.random.default_rng(sum(shape))
    for a, b, out in _layouts(rng, *shape):
        want = np.matmul(a, b)
        got = _gemm.matmul(a, b, out)
        if out is not None:
            assert got is out
        assert got.shape == want.shape and got.dtype == want.dtype
        _close(got, want, shape[1])


@needs_mkl
def test_mkl_handles_stacks_and_leaves_overlaps_to_numpy():
    rng = np.random.default_rng(1)
    v, u = _f32(rng, 16, 200, 64), _f32(rng, 16, 64, 96)
    mm = np.empty((16, 200, 96), np.float32)
    _close(_gemm.matmul(v, u, mm), np.matmul(v, u), 64)
    _close(_gemm.matmul(v, u[:, :, 10:70]), np.matmul(v, u[:, :, 10:70]), 64)
    # out overlapping an operand: numpy's buffered matmul, same answer as on copies
    buf = _f32(rng, 400, 400)
    a, b = buf[:, :400].copy(), buf.copy()
    want = np.matmul(a, b)
    _close(_gemm.matmul(buf, buf, buf), want, 400)
    # attention's per-head products: strided operands, outputs stacked or side by side in
    # rows (MKL's batched call takes the first, refuses the second: each path checked on NaN-
    # filled outputs, so a refused call cannot pass unnoticed)
    q, kk = _f32(rng, 2, 128, 12, 64), _f32(rng, 2, 128, 12, 64)
    scores = np.full((2, 12, 128, 128), np.nan, np.float32)
    for b in range(2):
        _gemm.matmul(q[b].transpose(1, 0, 2), kk[b].transpose(1, 2, 0), scores[b])
    _close(scores, np.einsum("btnh,bsnh->bnts", q, kk), 64)
    p = _f32(rng, 12, 128, 128)
    ctx = np.full((128, 12, 64), np.nan, np.float32)
    _gemm.matmul(p, kk[0].transpose(1, 0, 2), ctx.transpose(1, 0, 2))
    _close(ctx, np.einsum("nts,snh->tnh", p, kk[0]), 128)
    big = np.full((4, 300, 12, 96), np.nan, np.float32)  # side by side, big enough for MKL
    va, vb = _f32(rng, 12, 300, 200), _f32(rng, 12, 200, 96)
    _gemm.matmul(va, vb, big[0].transpose(1, 0, 2))
    _close(big[0].transpose(1, 0, 2), np.matmul(va, vb), 200)
    assert np.isnan(big[1:]).all()
    # 4-D and broadcast stacks go to numpy as they are
    x, y = _f32(rng, 2, 3, 40, 50), _f32(rng, 50, 60)
    _close(_gemm.matmul(x, y), np.matmul(x, y), 50)


@needs_mkl
def test_buffers_mkl_must_not_take_go_to_numpy():
    """Unaligned operands, a read-only output (numpy's error, not a write through it) and an
    output overlapping an operand all take numpy's path."""
    rng = np.random.default_rng(2)
    a, b = _f32(rng, 300, 200), _f32(rng, 200, 100)
    raw = np.zeros(300 * 200 * 4 + 1, np.uint8)
    odd = np.frombuffer(raw.data, np.float32, 300 * 200, offset=1).reshape(300, 200)
    odd[...] = a
    assert not odd.flags.aligned
    _close(_gemm.matmul(odd, b), a @ b, 200)
    frozen = np.zeros((300, 100), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        _gemm.matmul(a, b, frozen)
    assert not frozen.any()
    stack = np.zeros((2, 300, 200), np.float32)
    stack.flags.writeable = False
    with pytest.raises(ValueError):
        _gemm.matmul(_f32(rng, 2, 300, 200), _f32(rng, 2, 200, 200), stack)


def test_backend_is_reported_and_can_be_switched_off():
    code = "from savedmodel_io.graph.ops import _gemm; print(_gemm.BACKEND, _gemm.ACCELERATED)"
    env = {**os.environ, "SAVEDMODEL_IO_GEMM": "numpy"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "numpy's BLAS (SAVEDMODEL_IO_GEMM=numpy) False"
    from savedmodel_io import _config

    row = _config.backends()["GEMM (float32)"]
    assert row["backend"] == _gemm.BACKEND and row["fast"] == _gemm.ACCELERATED


@pytest.mark.parametrize("threads", [1, 2])
def test_convolutions_and_dense_layers_equal_on_both_backends(monkeypatch, threads):
    """The runtime's GEMM users (im2col, 1x1 and Winograd convolutions, fused MatMul) give the
    same results with the GEMMs on MKL and on numpy."""
    from graph.test_optimize import run_kernel

    rng = np.random.default_rng(7)
    conv = {"padding": b"SAME", "data_format": b"NHWC", "dilations": [1, 1, 1, 1],
            "explicit_paddings": [], "fused_ops": [b"BiasAdd", b"Relu"]}
    cases = [
        ("_FusedConv2D", [_f32(rng, 2, 30, 30, 32), _f32(rng, 3, 3, 32, 48), _f32(rng, 48)],
         {**conv, "strides": [1, 1, 1, 1]}),                                # Winograd
        ("_FusedConv2D", [_f32(rng, 2, 31, 29, 24), _f32(rng, 3, 3, 24, 40), _f32(rng, 40)],
         {**conv, "strides": [1, 2, 2, 1]}),                                # im2col
        ("_FusedConv2D", [_f32(rng, 4, 20, 20, 64), _f32(rng, 1, 1, 64, 128), _f32(rng, 128)],
         {**conv, "strides": [1, 1, 1, 1]}),                                # 1x1
        ("_FusedMatMul", [_f32(rng, 96, 256), _f32(rng, 512, 256), _f32(rng, 512)],
         {"fused_ops": [b"BiasAdd", b"GeluExact"], "transpose_a": False, "transpose_b": True}),
        ("MatMul", [_f32(rng, 200, 300), _f32(rng, 100, 300)],
         {"transpose_a": False, "transpose_b": True}),
    ]
    monkeypatch.setattr(nn, "_PARALLEL_MACS", 1)
    for op, inputs, attrs in cases:
        got = run_kernel(op, inputs, threads=threads, **attrs)
        with monkeypatch.context() as m:
            m.setattr(_gemm, "_sgemm", None)
            want = run_kernel(op, inputs, threads=threads, **attrs)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5, err_msg=op)
