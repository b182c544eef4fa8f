"""3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3).

Each 2x2 block of output pixels (a tile) comes from a 4x4 window of input: the window is
transformed (V = Bt d B), multiplied channel-wise by the transformed filter (U = G g Gt) as 16
GEMMs [tiles, Cin] x [Cin, Cout], and transformed back (Y = At M A): 16 products per tile and
channel pair instead of im2col's 36. The matrices are those of Lavin and Gray, "Fast Algorithms
for Convolutional Neural Networks" (2015), interpolation points 0, 1, -1 and infinity; their
entries are 0, +-1 and 1/2, so the float32 result stays as close to the exact one as im2col's
(tests check both against float64). F(4x4, 3x3) was measured and rejected: its larger
entries cost an order of magnitude of accuracy (outputs outside rtol 1e-4 / atol 1e-5 on
ReLU-like inputs; bench/README.md).

The input and output transforms are C loops (graph/ops/_nnaccel.c) when built, else the numpy
code below (the reference the tests compare them with). Work is split into pieces (tile rows
of one image, or several whole small images) whose buffers stay in cache; the pieces go to
the runtime's threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from savedmodel_io.graph.ops._accel import accel
from savedmodel_io.graph.ops._gemm import matmul as gemm

if TYPE_CHECKING:
    from savedmodel_io.graph.ops.nn import _Epilogue
from savedmodel_io.graph.ops._parallel import run_pieces
from savedmodel_io.graph.ops._scratch import scratch
from savedmodel_io.graph.ops._util import pad_constant

__all__ = ["filter_transform", "winograd_conv"]

# Scratch budget of one piece's transformed input and GEMM output (each), in bytes, unless the
# filter is big (below): enough for GEMMs of a few hundred rows, little enough for a core's L2.
_PIECE_BYTES = 1 << 20
_MIN_TILES = 64
_F32 = np.dtype(np.float32)


def filter_transform(w: np.ndarray) -> np.ndarray:
    """U = G g Gt of a (3, 3, Cin, Cout) filter as (16, Cin, Cout) float32 (computed in float64)."""
    g = w.astype(np.float64)
    u = np.empty((4, 4, *w.shape[2:]))
    # G's rows: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2; over filter rows, then columns.
    rows = (g[0], 0.5 * (g[0] + g[1] + g[2]), 0.5 * (g[0] - g[1] + g[2]), g[2])
    for a, r in enumerate(rows):
        u[a, 0] = r[0]
        np.multiply(r[0] + r[1] + r[2], 0.5, out=u[a, 1])
        np.multiply(r[0] - r[1] + r[2], 0.5, out=u[a, 2])
        u[a, 3] = r[2]
    return u.reshape(16, *w.shape[2:]).astype(np.float32)


def _input_np(xs: np.ndarray, v: np.ndarray, tr: int, tw: int, first: int) -> None:
    """v[:, first:first + tr*tw] = Bt d B of every 4x4 window (stride 2) of the piece xs
    (hp, wp, C); v is (16, tiles, C)."""
    c = xs.shape[2]
    s = xs.strides
    d = as_strided(xs, (tr, tw, 4, 4, c), (2 * s[0], 2 * s[1], s[0], s[1], s[2]),
                   writeable=False)

    def out(xi: int, nu: int) -> np.ndarray:
        return v[4 * xi + nu, first:first + tr * tw].reshape(tr, tw, c)  # contiguous: a view

    # Bt rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3 (first over window rows, then columns).
    rows = (d[:, :, 0] - d[:, :, 2], d[:, :, 1] + d[:, :, 2], d[:, :, 2] - d[:, :, 1],
            d[:, :, 1] - d[:, :, 3])
    for xi, t in enumerate(rows):
        np.subtract(t[:, :, 0], t[:, :, 2], out=out(xi, 0))
        np.add(t[:, :, 1], t[:, :, 2], out=out(xi, 1))
        np.subtract(t[:, :, 2], t[:, :, 1], out=out(xi, 2))
        np.subtract(t[:, :, 1], t[:, :, 3], out=out(xi, 3))


def _output_np(m: np.ndarray, y: np.ndarray, tr: int, tw: int, first: int) -> None:
    """y (rows, cols, Cout) = At M A of every tile, M = m[:, first:first + tr*tw], cropped."""
    co = m.shape[2]
    m4 = m[:, first:first + tr * tw].reshape(4, 4, tr, tw, co)
    # At rows: m0 + m1 + m2, m1 - m2 - m3.
    s0 = m4[0] + m4[1] + m4[2]
    s1 = m4[1] - m4[2] - m4[3]
    tiles = np.empty((tr, 2, tw, 2, co), m.dtype)
    for r, s in enumerate((s0, s1)):
        tiles[:, r, :, 0] = s[0] + s[1] + s[2]
        tiles[:, r, :, 1] = s[1] - s[2] - s[3]
    rows, cols = y.shape[:2]
    y[...] = tiles.reshape(2 * tr, 2 * tw, co)[:rows, :cols]


def winograd_conv(x: np.ndarray, pads: tuple[int, int], u: np.ndarray, y: np.ndarray,
                  epi: _Epilogue | None,
                  res: np.ndarray | None, threads: int = 1) -> None:
    """y (N, OH, OW, Cout) = the 3x3 stride-1 convolution of the NHWC float32 input x padded
    by ``pads`` (top, left) zeros (and as many at the bottom and right as the output needs).

    ``epi`` (nn._Epilogue or None: ``apply(block, residual)``, ``columns(c0, c1)``) runs on
    each finished block of y with the matching block of ``res`` (y's shape or None). Pieces
    of tile rows go to the threads; a single image with too few tiles for that is split by
    output channels instead. The C transform reads zeros outside the image itself; the numpy
    one pads a copy first.
    """
    n, oh, ow, co = y.shape
    c = x.shape[3]
    th, tw = -(-oh // 2), -(-ow // 2)
    if accel is None:
        h, w = x.shape[1:3]
        x = pad_constant(x, [(0, 0), (pads[0], 2 * th + 2 - h - pads[0]),
                             (pads[1], 2 * tw + 2 - w - pads[1]), (0, 0)])
        origin = (0, 0)
    else:
        x = np.ascontiguousarray(x, np.float32)
        origin = (-pads[0], -pads[1])
    if threads > 1 and n == 1 and th * tw < 2 * _MIN_TILES * threads and co >= 32 * threads:
        _by_columns(x[0], origin, u, y[0], epi, None if res is None else res[0], threads)
        return
    per_tile = 16 * 4 * max(c, co)
    # Every piece reads all of u: a big u takes more tiles per piece to pay for it (measured on
    # VGG16's layers at batch 8: 512x512 channels 1.9x faster with 256 tiles than with 64).
    tiles = max(_PIECE_BYTES // per_tile, u.nbytes // (2 * per_tile), _MIN_TILES)
    if n > 1 and th * tw <= tiles:  # pieces of whole images
        per = max(1, min(tiles // (th * tw), -(-n // threads)))
        pieces = [(b, min(n, b + per), 0, th) for b in range(0, n, per)]
    else:  # pieces of tile rows of one image
        step = max(1, min(th, tiles // tw))
        if threads > 1 and n * -(-th // step) < threads:  # a piece for every thread
            step = max(1, -(-n * th // threads))
        pieces = [(b, b + 1, t0, min(th, t0 + step)) for b in range(n)
                  for t0 in range(0, th, step)]

    def piece(p: tuple[int, int, int, int]) -> None:
        b0, b1, t0, t1 = p
        per = (t1 - t0) * tw
        count = (b1 - b0) * per
        v = scratch("wino_v", 16 * count * c, _F32).reshape(16, count, c)
        mm = scratch("wino_m", 16 * count * co, _F32).reshape(16, count, co)
        r0, r1 = 2 * t0, min(oh, 2 * t1)
        for k, b in enumerate(range(b0, b1)):
            _transform_in(x[b], (origin[0] + 2 * t0, origin[1]), v, t1 - t0, tw, k * per)
        gemm(v, u, mm)
        for k, b in enumerate(range(b0, b1)):
            _transform_out(mm, y[b, r0:r1], t1 - t0, tw, k * per)
        if epi is not None:  # whole images or rows of one: contiguous in y
            epi.apply(y[b0:b1, r0:r1].reshape(-1, co),
                      None if res is None else res[b0:b1, r0:r1].reshape(-1, co))

    run_pieces(pieces, piece, threads)


def _by_columns(image: np.ndarray, origin: tuple[int, int], u: np.ndarray, y: np.ndarray,
                epi: _Epilogue | None,
                res: np.ndarray | None, threads: int) -> None:
    """One image (OH, OW, Cout), its output channels in blocks over the threads (each block
    reads only its part of the transformed filter)."""
    oh, ow, co = y.shape
    c = image.shape[2]
    th, tw = -(-oh // 2), -(-ow // 2)
    v = np.empty((16, th * tw, c), np.float32)
    _transform_in(image, origin, v, th, tw, 0)
    width = -(-co // threads)
    width = -(-width // 16) * 16

    def block(c0: int) -> None:
        c1 = min(co, c0 + width)
        mm = scratch("wino_m", 16 * th * tw * (c1 - c0), _F32).reshape(16, th * tw, c1 - c0)
        gemm(v, u[:, :, c0:c1], mm)
        out = np.empty((oh, ow, c1 - c0), np.float32)
        _transform_out(mm, out, th, tw, 0)
        if epi is not None:
            out = epi.columns(c0, c1).apply(
                out.reshape(-1, c1 - c0), None if res is None else res[:, :, c0:c1].reshape(
                    -1, c1 - c0)).reshape(out.shape)
        y[:, :, c0:c1] = out

    run_pieces(range(0, co, width), block, threads)


def _transform_in(image: np.ndarray, origin: tuple[int, int], v: np.ndarray, tr: int, tw: int,
                  first: int) -> None:
    """The input transform of tr x tw tiles whose first window starts at ``origin`` of the
    (H, W, C) image (negative: in the padding; the numpy path gets a padded image), into
    v[:, first:first + tr*tw]."""
    if accel is not None:
        accel.wino_input(image, v, *image.shape, *origin, tr, tw, first, v.shape[1])
    else:
        r, c = origin
        _input_np(image[r:r + 2 * tr + 2, c:c + 2 * tw + 2], v, tr, tw, first)


def _transform_out(mm: np.ndarray, out: np.ndarray, tr: int, tw: int, first: int) -> None:
    """out (rows, cols, Cout) = the output transform of tiles first.. of mm (16, tiles, Cout)."""
    if accel is not None:
        accel.wino_output(mm, out, tr, tw, mm.shape[2], out.shape[0], out.shape[1], first,
                          mm.shape[1])
    else:
        _output_np(mm, out, tr, tw, first)
