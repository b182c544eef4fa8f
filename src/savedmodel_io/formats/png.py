"""PNG: decode to the array TensorFlow's DecodePng gives, and encode as its EncodePng does.

The file format is the PNG specification's (chunks, zlib stream, five row filters, Adam7
interlacing). What TensorFlow returns for a requested channel count and bit depth is the
libpng transform chain tensorflow/tensorflow tensorflow/core/lib/png/png_io.cc sets up
(CommonInitDecode): palettes and tRNS expanded, alpha added (filler (1 << bit_depth) - 1)
or stripped, RGB to gray with libpng's integer weights for 0.299 / 0.587, gray to RGB,
16-bit samples cut to their high byte, 8-bit samples widened to 16 by ``v * 257``.

Decoding bounds everything before allocating: image sizes (libpng's default limits of
1,000,000 pixels per side and TensorFlow's 2^29 pixels), and the inflated stream to
exactly the bytes the image needs.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from savedmodel_io.errors import CorruptFileError, LimitExceededError, UnsupportedFormatError

__all__ = ["SIGNATURE", "decode_png", "encode_png", "png_header"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_SIDE = 1_000_000  # libpng's default user width/height limit
_MAX_PIXELS = 1 << 29  # tensorflow/core/kernels/image/decode_image_op.cc
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # samples per pixel by colour type
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7 passes: (row start, column start, row step, column step).
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
          (1, 0, 2, 1))
# libpng's png_set_rgb_to_gray(.., 0.299, 0.587): red/green weights out of 32768.
_RED, _GREEN = 29900 * 32768 // 100000, 58700 * 32768 // 100000
_BLUE = 32768 - _RED - _GREEN


class _Png:
    """The parsed chunks of one PNG."""

    def __init__(self) -> None:
        self.width = self.height = self.depth = self.color = self.interlace = 0
        self.palette: np.ndarray | None = None
        self.trns: bytes | None = None
        self.idat: list[bytes] = []


def _error(message: str) -> CorruptFileError:
    return CorruptFileError(f"invalid PNG: {message}")


def _parse(data: bytes) -> _Png:
    if not data.startswith(SIGNATURE):
        raise _error("no PNG signature")
    png = _Png()
    pos, seen_ihdr, idat_done, ended = len(SIGNATURE), False, False, False
    while not ended:
        if pos + 8 > len(data):
            raise _error("the file ends before IEND")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF or pos + 12 + length > len(data):
            raise _error(f"chunk {kind!r} is longer than the file")
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        pos += 12 + length
        critical = not kind[0] & 0x20
        if zlib.crc32(kind + body) != crc:
            if critical:
                raise _error(f"CRC error in chunk {kind!r}")
            continue  # libpng discards an ancillary chunk with a bad CRC
        if not seen_ihdr and kind != b"IHDR":
            raise _error("the first chunk is not IHDR")
        if kind == b"IHDR":
            if seen_ihdr or length != 13:
                raise _error("bad IHDR")
            seen_ihdr = True
            _header(png, body)
        elif kind == b"PLTE":
            if length % 3 or not length:
                if png.color == 3:
                    raise _error("invalid palette length")
                continue
            # libpng keeps at most 2^depth entries of a palette image's PLTE.
            limit = 1 << png.depth if png.color == 3 else 256
            png.palette = np.frombuffer(body, np.uint8).reshape(-1, 3)[:limit]
        elif kind == b"tRNS":
            png.trns = body
        elif kind == b"IDAT":
            if idat_done:
                raise _error("IDAT chunks are not consecutive")
            png.idat.append(body)
            continue
        elif kind == b"IEND":
            ended = True
        elif critical:
            raise _error(f"unknown critical chunk {kind!r}")
        idat_done = bool(png.idat)  # a later IDAT would not be consecutive
    if not png.idat:
        raise _error("no image data")
    if png.color == 3 and png.palette is None:
        raise _error("missing palette")
    return png


def _header(png: _Png, body: bytes) -> None:
    w, h, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
    if not (0 < w <= _MAX_SIDE and 0 < h <= _MAX_SIDE):
        raise LimitExceededError(f"PNG image of {w}x{h} pixels is beyond the limit of "
                                 f"{_MAX_SIDE} per side")
    if w * h >= _MAX_PIXELS:
        raise LimitExceededError(f"PNG image of {w}x{h} pixels is beyond the limit of "
                                 f"{_MAX_PIXELS} pixels")
    if color not in _DEPTHS or depth not in _DEPTHS[color]:
        raise _error(f"bit depth {depth} is invalid for colour type {color}")
    if comp or filt or interlace > 1:
        raise _error("unknown compression, filter or interlace method")
    png.width, png.height, png.depth, png.color, png.interlace = w, h, depth, color, interlace


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    png = _Png()
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        raise _error("no IHDR chunk")
    _header(png, data[16:29])
    return png.width, png.height, png.depth, png.color


# -- pixels --------------------------------------------------------------------------------------

def _unfilter(raw: np.ndarray, rows: int, row_bytes: int, bpp: int) -> np.ndarray:
    """Undo the per-row filters of one (sub)image: (rows, row_bytes) uint8.

    A byte depends on its left, upper and upper-left neighbours, so the bytes of one
    anti-diagonal (row + column = d, counting columns in whole pixels) are independent of
    each other. Rows are reconstructed in bands, each skewed so that its anti-diagonals are
    rows of an array: step d then works on slices of steps d-1 and d-2 only, vectorised
    across the band, whatever mix of None/Sub/Up/Average/Paeth rows it holds.
    """
    lines = raw.reshape(rows, row_bytes + 1)
    kinds = lines[:, 0].astype(np.int16)
    if (kinds > 4).any():
        raise _error(f"unknown row filter {int(kinds.max())}")
    x = lines[:, 1:].reshape(rows, -1, bpp).astype(np.int16)
    if not kinds.any():
        plain: np.ndarray = lines[:, 1:].copy()
        return plain
    cols = x.shape[1]
    band = max(64, min(rows, (1 << 24) // max(1, (rows + cols) * bpp)))
    out = np.empty_like(x)
    above = np.zeros((cols, bpp), np.int16)  # the row before the band (zeros above row 0)
    for r0 in range(0, rows, band):
        n = min(band, rows - r0)
        # skew[d, r] is pixel (r0 + r, d - r); two extra leading steps hold zeros.
        skew = np.zeros((n + cols + 1, n + 1, bpp), np.int16)
        rr = np.arange(n)[:, None]
        cc = np.arange(cols)[None, :]
        filt = np.zeros_like(skew)
        filt[rr + cc + 2, rr + 1] = x[r0:r0 + n]
        skew[np.arange(cols) + 1, 0] = above  # row "-1" of the band, at step c + 1
        kind = kinds[r0:r0 + n][:, None]
        for d in range(2, n + cols + 1):
            lo, hi = max(1, d - cols), min(n, d - 1)  # band rows (1-based) on this diagonal
            a = skew[d - 1, lo:hi + 1]
            b = skew[d - 1, lo - 1:hi]
            c = skew[d - 2, lo - 1:hi]
            k = kind[lo - 1:hi]
            p = a + b - c
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
            paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
            pred = np.where(k == 1, a, np.where(k == 2, b, np.where(
                k == 3, (a + b) >> 1, np.where(k == 4, paeth, 0))))
            skew[d, lo:hi + 1] = (filt[d, lo:hi + 1] + pred) & 0xFF
        out[r0:r0 + n] = skew[rr + cc + 2, rr + 1]
        above = out[r0 + n - 1]
    return out.astype(np.uint8).reshape(rows, row_bytes)


def _samples(lines: np.ndarray, width: int, depth: int, channels: int) -> np.ndarray:
    """(rows, width, channels) samples (uint8 or uint16) from unfiltered row bytes."""
    rows = lines.shape[0]
    if depth == 16:
        return lines.view(">u2").astype(np.uint16).reshape(rows, width, channels)
    if depth == 8:
        return lines.reshape(rows, width, channels)
    bits = np.unpackbits(lines, axis=1)  # sub-byte depths have one channel
    per = bits[:, :width * depth].reshape(rows, width, depth)
    weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
    packed: np.ndarray = (per * weights).sum(axis=2, dtype=np.uint8)[..., None]
    return packed


def _pixels(png: _Png) -> np.ndarray:
    """The stored samples, (height, width, samples per pixel), before any transform."""
    ch = _CHANNELS[png.color]
    bits = ch * png.depth
    bpp = max(1, bits // 8)
    if png.interlace:
        passes = []
        for r0, c0, rs, cs in _ADAM7:
            pw = max(0, -(-(png.width - c0) // cs))
            ph = max(0, -(-(png.height - r0) // rs))
            passes.append((r0, c0, rs, cs, pw, ph if pw else 0))
    else:
        passes = [(0, 0, 1, 1, png.width, png.height)]
    need = sum(ph * (-(-pw * bits // 8) + 1) for *_, pw, ph in passes)
    try:  # inflate no more than the image needs: a small stream cannot expand further
        raw = zlib.decompressobj().decompress(b"".join(png.idat), need)
    except zlib.error as exc:
        raise _error(f"bad image data: {exc}") from None
    if len(raw) < need:
        raise _error("not enough image data")
    buf = np.frombuffer(raw, np.uint8)
    dtype = np.uint16 if png.depth == 16 else np.uint8
    image = np.zeros((png.height, png.width, ch), dtype)
    pos = 0
    for r0, c0, rs, cs, pw, ph in passes:
        if not ph:
            continue
        row_bytes = -(-pw * bits // 8)
        lines = _unfilter(buf[pos:pos + ph * (row_bytes + 1)], ph, row_bytes, bpp)
        pos += ph * (row_bytes + 1)
        image[r0::rs, c0::cs] = _samples(lines, pw, png.depth, ch)
    return image


# -- TensorFlow's transform chain -------------------------------------------------------------

def _expand_gray(v: np.ndarray, depth: int) -> np.ndarray:
    """1/2/4-bit gray scaled to 8 bits (png_set_expand_gray_1_2_4_to_8)."""
    return v if depth >= 8 else (v * (255 // ((1 << depth) - 1))).astype(np.uint8)


def decode_png(data: bytes, channels: int = 0, bits16: bool = False) -> np.ndarray:
    """(height, width, channels) uint8 (uint16 when ``bits16``), as tf.io.decode_png returns it."""
    png = _parse(data)
    raw = _pixels(png)
    depth, color = png.depth, png.color
    trns = png.trns if _trns_valid(png) else None  # None: no tRNS, or one libpng drops
    if channels == 0:
        channels = (4 if trns is not None else 3) if color == 3 else _CHANNELS[color]
    want_alpha = channels % 2 == 0
    want_gray = channels < 3
    max_v = 65535 if depth == 16 else 255
    if color == 3:  # palette (and its tRNS alphas) to RGB(A); missing entries are black
        pal = np.zeros((256, 3), np.uint8)
        palette = png.palette if png.palette is not None else pal[:0]  # _parse requires one
        pal[:len(palette)] = palette
        alpha = np.full(256, 255, np.uint8)
        if trns is not None:
            alpha[:len(trns)] = np.frombuffer(trns, np.uint8)
        idx = raw[..., 0]
        px = pal[idx]
        a = alpha[idx][..., None] if trns is not None else None
        rgb, gray_src = px, False
        depth_now = 8
    else:
        gray_src = not color & 2
        samples = raw[..., :_CHANNELS[color] - (1 if color & 4 else 0)]
        a = raw[..., -1:] if color & 4 else None
        if trns is not None and a is None:
            key = np.frombuffer(trns[:2 if gray_src else 6], ">u2").astype(np.int64)
            if depth < 8:
                key = key & ((1 << depth) - 1)
            match = (samples.astype(np.int64) == key).all(axis=-1, keepdims=True)
            a = np.where(match, 0, max_v).astype(samples.dtype)
        if gray_src:
            samples = _expand_gray(samples, depth)
        rgb = samples
        depth_now = max(depth, 8)
    if not want_alpha:
        a = None
    if want_gray and not gray_src:
        rgb = _rgb_to_gray(rgb, depth_now)
    elif not want_gray and gray_src:
        rgb = np.repeat(rgb, 3, axis=-1)
    parts = [rgb] + ([a] if a is not None else [])
    out = np.concatenate(parts, axis=-1) if len(parts) > 1 else rgb
    if depth_now == 16 and not bits16:
        out = (out >> 8).astype(np.uint8)
        depth_now = 8
    if want_alpha and a is None:
        filler = ((1 << png.depth) - 1) & (0xFFFF if depth_now == 16 else 0xFF)
        out = np.concatenate([out, np.full(out.shape[:2] + (1,), filler, out.dtype)], axis=-1)
    if bits16 and depth_now == 8:
        out = out.astype(np.uint16) * np.uint16(257)
    return np.ascontiguousarray(out)


def _trns_valid(png: _Png) -> bool:
    """Whether libpng keeps the tRNS chunk (right length for the colour type, no alpha)."""
    n = len(png.trns or b"")
    if png.color == 3:
        return png.palette is not None and 0 < n <= len(png.palette)
    if png.color == 0:
        return n == 2
    if png.color == 2:
        return n == 6
    return False


def _rgb_to_gray(rgb: np.ndarray, depth: int) -> np.ndarray:
    """libpng's png_do_rgb_to_gray without gamma: 8-bit truncates, 16-bit rounds."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    mix = _RED * r + _GREEN * g + _BLUE * b
    grey = (mix + 16384) >> 15 if depth == 16 else mix >> 15
    same = (r == g) & (r == b)
    out = np.where(same, r, grey) if depth != 16 else grey
    return out.astype(rgb.dtype)[..., None]


# -- encoding --------------------------------------------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filter_rows(img: np.ndarray, bpp: int) -> bytes:
    """Each row under the filter libpng's heuristic picks (least sum of |signed bytes|;
    ties go to the earlier filter), with its filter-type byte in front."""
    x = img.astype(np.int16)
    h = x.shape[0]
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up = np.zeros_like(x)
    up[1:] = x[:-1]

    def cost(c: np.ndarray) -> np.ndarray:
        total: np.ndarray = np.minimum(c, 256 - c).sum(axis=1, dtype=np.int64)
        return total

    best = x.astype(np.uint8)
    best_cost = cost(x)
    kind = np.zeros(h, np.uint8)
    ul = np.zeros_like(x)
    ul[1:, bpp:] = x[:-1, :-bpp]
    for k in range(1, 5):
        if k == 1:
            pred = left
        elif k == 2:
            pred = up
        elif k == 3:
            pred = (left + up) >> 1
        else:
            p = left + up - ul
            pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - ul)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, ul))
        cand = (x - pred) & 0xFF
        c = cost(cand)
        better = c < best_cost
        best[better] = cand[better]
        best_cost = np.where(better, c, best_cost)
        kind[better] = k
    return np.concatenate([kind[:, None], best], axis=1).tobytes()


def _small_window_header(stream: bytes, size: int) -> bytes:
    """libpng's optimize_cmf: a small image's zlib header declares the smallest window it needs."""
    cmf = stream[0]
    if size > 16384 or cmf & 0x0F != 8 or cmf >> 4 > 7:
        return stream
    cinfo = cmf >> 4
    half = 1 << (cinfo + 7)
    if size > half:
        return stream
    while True:
        half >>= 1
        cinfo -= 1
        if not (cinfo > 0 and size <= half):
            break
    cmf = (cmf & 0x0F) | (cinfo << 4)
    flg = stream[1] & 0xE0
    flg += 0x1F - ((cmf << 8) + flg) % 0x1F
    return bytes([cmf, flg]) + stream[2:]


def encode_png(image: np.ndarray, compression: int = -1) -> bytes:
    """PNG bytes of an (height, width, 1-4) uint8/uint16 array (gray, gray+alpha, RGB, RGBA)."""
    h, w, c = image.shape
    if c not in (1, 2, 3, 4) or image.dtype not in (np.uint8, np.uint16):
        raise UnsupportedFormatError(f"cannot write a PNG of {c} {image.dtype} channels")
    if h == 0 or w == 0:
        raise UnsupportedFormatError("cannot write a PNG with no pixels")
    depth = 16 if image.dtype == np.uint16 else 8
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = image.astype(">u2").view(np.uint8) if depth == 16 else image
    raw = _filter_rows(np.ascontiguousarray(rows).reshape(h, -1), c * depth // 8)
    level = 6 if compression < 0 else compression
    wbits = 15
    while wbits > 9 and len(raw) + 262 <= 1 << (wbits - 1):  # libpng's small-image window
        wbits -= 1
    comp = zlib.compressobj(level, zlib.DEFLATED, wbits, 9, zlib.Z_FILTERED)
    stream = _small_window_header(comp.compress(raw) + comp.flush(), len(raw))
    out = [SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))]
    out += [_chunk(b"IDAT", stream[i:i + 8192]) for i in range(0, len(stream), 8192)]
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
