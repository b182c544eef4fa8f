"""The C kernels give the same bits for the same inputs wherever numpy put the buffers.

A compiler may build a loop twice (vectorised, and a scalar fallback for buffers that sit
close together) and round the two differently; a kernel's result then changes from call to
call with the allocator's choices. Each kernel here runs on its operands copied into one
shared pool at many relative offsets (adjacent, a few floats apart, every order), with row
lengths around the vector widths, and must give one answer, in every build of the loops
(AVX-512, AVX2+FMA, baseline: each may round its own way, but always the same way).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from savedmodel_io.graph.ops._accel import accel

from graph.accel_builds import build  # noqa: F401  (fixture: each build of the C loops)

pytestmark = pytest.mark.skipif(accel is None, reason="the C accelerator is not built")

RNG = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def each_build(build):  # noqa: F811
    """Every test here runs once per build of the loops this CPU has."""
    return build

EMPTY = np.zeros(0, np.float32)


def placements(sizes: list[int]):
    """Offsets (in floats) of buffers of ``sizes`` in one pool: every order, gaps 0-17."""
    for order in itertools.permutations(range(len(sizes))):
        for gap in (0, 1, 3, 8, 17):
            offsets, at = [0] * len(sizes), gap
            for i in order:
                offsets[i], at = at, at + sizes[i] + gap
            yield offsets, at


def same_wherever_placed(arrays: list[np.ndarray], outputs: list[int], call) -> None:
    """``call(*views)`` on ``arrays`` placed in a pool every way; the ``outputs`` (indices of
    buffers the kernel writes, inputs updated in place included) must not change."""
    sizes = [a.size for a in arrays]
    seen: dict[bytes, list[int]] = {}
    for offsets, total in placements(sizes):
        pool = np.zeros(total + 1, np.float32)
        views = []
        for a, o in zip(arrays, offsets, strict=True):
            v = pool[o:o + a.size].reshape(a.shape)
            v[...] = a
            views.append(v)
        call(*views)
        key = b"".join(views[i].tobytes() for i in outputs)
        seen.setdefault(key, offsets)
    assert len(seen) == 1, f"results differ with placement: {list(seen.values())}"


def f32(*shape, scale=3.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("n", [5, 8, 16, 37, 64])
def test_softmax(n):
    same_wherever_placed([f32(3, n), np.zeros((3, n), np.float32)], [1],
                         lambda x, y: accel.softmax(x, y, n))


@pytest.mark.parametrize("n", [5, 8, 16, 37, 64])
def test_layer_norm(n):
    same_wherever_placed([f32(2, n), f32(n), f32(n), np.zeros((2, n), np.float32)], [3],
                         lambda x, s, o, y: accel.layer_norm(x, s, o, y, n, np.float32(1e-3)))


@pytest.mark.parametrize("kernel", ["erfc", "gelu"])
@pytest.mark.parametrize("n", [5, 8, 16, 37])
def test_elementwise(kernel, n):
    fn = getattr(accel, kernel)
    same_wherever_placed([f32(n), np.zeros(n, np.float32)], [1], fn)


@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("cols", [7, 16, 37])
def test_epilogue(act, cols):
    rows = 3
    same_wherever_placed(
        [f32(rows, cols), f32(cols), f32(cols), f32(rows, cols)], [0],
        lambda y, s, b, r: accel.epilogue(y, s, b, r, rows, cols, 0, cols, 0, cols, act))


@pytest.mark.parametrize("c", [3, 8, 19])
def test_depthwise(c):
    n, hp, wp, kh, kw = 1, 5, 6, 3, 3
    oh, ow = hp - kh + 1, wp - kw + 1
    same_wherever_placed(
        [f32(n, hp, wp, c), f32(kh, kw, c), np.zeros((n, oh, ow, c), np.float32)], [2],
        lambda x, w, y: accel.depthwise(x, w, y, n, hp, wp, c, oh, ow, kh, kw, 1, 1, 1, 1))


@pytest.mark.parametrize("units", [5, 16, 70])
def test_lstm_steps(units):
    steps, batch = 3, 5
    bu = batch * units
    same_wherever_placed(
        [f32(steps * bu * 4, scale=1), f32(units * units * 4, scale=0.3), f32(bu, scale=1),
         f32(bu, scale=1), np.zeros(steps * bu, np.float32), np.zeros(bu * 4, np.float32)],
        [3, 4],
        lambda xw, u, h0, c, seq, z: accel.lstm_steps(xw, u, h0, c, seq, z, steps, batch, units,
                                                      0, batch))


@pytest.mark.parametrize("units", [5, 16, 70])
def test_gru_steps(units):
    steps, batch = 3, 5
    bu = batch * units
    same_wherever_placed(
        [f32(steps * bu * 3, scale=1), f32(units * units * 3, scale=0.3), f32(units * 3),
         f32(bu, scale=1), np.zeros(steps * bu, np.float32), np.zeros(bu * 3, np.float32)],
        [4],
        lambda xw, u, bh, h0, seq, hu: accel.gru_steps(xw, u, bh, h0, seq, hu, steps, batch,
                                                       units, 0, batch))


@pytest.mark.parametrize("c", [4, 8, 19])
def test_winograd_transforms(c):
    tr, tw = 2, 3
    h, w = 2 * tr, 2 * tw
    same_wherever_placed([f32(h, w, c), np.zeros((16, tr * tw, c), np.float32)], [1],
                         lambda x, v: accel.wino_input(x, v, h, w, c, -1, -1, tr, tw, 0, tr * tw))
    same_wherever_placed([f32(16, tr * tw, c), np.zeros((h, w, c), np.float32)], [1],
                         lambda m, y: accel.wino_output(m, y, tr, tw, c, h, w, 0, tr * tw))


def test_placement_check_can_fail():
    """The harness itself: a kernel whose result depends on an address is caught."""
    def leaky(x, y):
        base = x.__array_interface__["data"][0]
        y[...] = x + (base % 64)  # depends on the address
    with pytest.raises(AssertionError, match="differ with placement"):
        same_wherever_placed([f32(8), np.zeros(8, np.float32)], [1], leaky)
