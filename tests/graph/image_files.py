"""Small image files for the codec tests, made without TensorFlow.

PNGs are written here byte by byte (every colour type and bit depth, palettes with and
without tRNS, Adam7 interlacing, every row filter), so the decoder meets the layouts libpng
reads, not only those one encoder happens to write. GIF, BMP, JPEG and WebP files come
from Pillow (a test dependency through the ``image`` extra).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
         (1, 0, 2, 1))
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filtered(rs: np.random.RandomState, sub: np.ndarray, depth: int) -> bytes:
    """The rows of one (sub)image, each under a random filter type."""
    hh, ww, c = sub.shape
    if depth == 16:
        b = sub.astype(">u2").view(np.uint8).reshape(hh, -1)
    elif depth == 8:
        b = sub.reshape(hh, -1).astype(np.uint8)
    else:
        bits = np.unpackbits(sub.reshape(hh, ww, 1).astype(np.uint8), axis=2)[:, :, 8 - depth:]
        b = np.packbits(bits.reshape(hh, -1), axis=1)
    bpp = max(1, c * depth // 8)
    out = bytearray()
    prev = np.zeros(b.shape[1], np.int32)
    for r in range(hh):
        x = b[r].astype(np.int32)
        f = rs.randint(0, 5)
        left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        ul = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        if f == 0:
            y = x
        elif f == 1:
            y = x - left
        elif f == 2:
            y = x - prev
        elif f == 3:
            y = x - ((left + prev) >> 1)
        else:
            p = left + prev - ul
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - ul)
            y = x - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, ul))
        out.append(f)
        out += bytes((y & 255).astype(np.uint8))
        prev = x
    return bytes(out)


def png_file(rs: np.random.RandomState, samples: np.ndarray, depth: int, color: int,
             palette: np.ndarray | None = None, trns: bytes | None = None,
             interlace: bool = False) -> bytes:
    """A PNG of (H, W, C) samples; its zlib stream split over two IDAT chunks."""
    h, w, _ = samples.shape
    if interlace:
        data = b"".join(_filtered(rs, samples[r0::rs_, c0::cs], depth)
                        for r0, c0, rs_, cs in ADAM7 if samples[r0::rs_, c0::cs].size)
    else:
        data = _filtered(rs, samples, depth)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0,
                                                             int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    z = zlib.compress(data)
    return out + chunk(b"IDAT", z[:len(z) // 2]) + chunk(b"IDAT", z[len(z) // 2:]) + \
        chunk(b"IEND", b"")


def png_corpus(rs: np.random.RandomState) -> dict[str, bytes]:
    """One PNG per colour type x bit depth x interlacing, and the tRNS forms."""
    h, w = 9, 13
    out = {}
    for color, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)), (4, (8, 16)),
                          (6, (8, 16))):
        ch = SAMPLES[color]
        for d in depths:
            top = (1 << d) if color != 3 else min(1 << d, 7)
            s = rs.randint(0, top, (h, w, ch))
            s[0, 0] = top - 1
            if color in (2, 6):
                s[1, :, 1] = s[1, :, 2] = s[1, :, 0]  # grey pixels: rgb_to_gray keeps them
            pal = rs.randint(0, 256, (7, 3)) if color == 3 else None
            for il in (False, True):
                out[f"c{color}d{d}i{int(il)}"] = png_file(rs, s, d, color, pal, None, il)
            if color == 3:
                out[f"c{color}d{d}trns"] = png_file(rs, s, d, color, pal, bytes([0, 128, 255, 7]))
            elif color == 0:
                out[f"c{color}d{d}trns"] = png_file(rs, s, d, color, None,
                                                    struct.pack(">H", int(s[0, 0, 0])))
            elif color == 2:
                out[f"c{color}d{d}trns"] = png_file(rs, s, d, color, None,
                                                    struct.pack(">HHH", *map(int, s[0, 0])))
    return out


def photo(rs: np.random.RandomState, h: int, w: int) -> np.ndarray:
    """A smooth colour image with noise: what JPEG tests need (edges, gradients)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(np.sin(x / 7) + np.cos(y / 5)) * 60 + 128, (x * 3) % 256, (y * 4 + x) % 256],
                   -1)
    return np.clip(img + rs.randint(-20, 20, img.shape), 0, 255).astype(np.uint8)


def pillow_file(image: np.ndarray, fmt: str, mode: str | None = None, **options) -> bytes:
    """``image`` saved by Pillow in ``fmt`` (after converting to ``mode``)."""
    from PIL import Image

    im = Image.fromarray(image)
    if mode:
        im = im.convert(mode)
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def animated_gif(rs: np.random.RandomState, h: int, w: int, frames: int, **options) -> bytes:
    """An animated GIF of random palette frames (Pillow may write partial frames)."""
    from PIL import Image

    base = rs.randint(0, 256, (h, w, 3)).astype(np.uint8)
    ims = []
    for _ in range(frames):
        img = base.copy()
        y, x = rs.randint(0, h - 2), rs.randint(0, w - 2)
        img[y:y + 3, x:x + 3] = rs.randint(0, 256, 3)
        ims.append(Image.fromarray(img).quantize(16))
        base = img
    out = io.BytesIO()
    ims[0].save(out, "GIF", save_all=True, append_images=ims[1:], **options)
    return out.getvalue()
