"""JPEG XL: the image size from the codestream header, pixels through imagecodecs (the ``jxl`` extra).

The size header is read here (ISO/IEC 18181-1 SizeHeader, bit-packed least significant
bit first after the 0xFF0A signature; the ISO BMFF-style container keeps the codestream in
a ``jxlc`` box or split across ``jxlp`` boxes whose payloads start with a 4-byte index), so
an image's size is bounded before libjxl allocates anything. Decoding uses imagecodecs'
libjxl, the library TensorFlow links (tensorflow/tensorflow tensorflow/core/lib/jxl/jxl_io.cc):
TensorFlow asks libjxl for 8-bit samples of the first frame, and libjxl reduces a deeper
image (10/12/16-bit or float samples) to 8 bits with an ordered dither; imagecodecs returns
the deep samples, so the same reduction is done here (measured against TensorFlow 2.21:
identical for every 16-bit value and for 10-bit, 12-bit and float images):
``round(x * 255 + (bayer8[y % 8][x % 4] + 0.5) / 64 - 0.5)`` clamped to [0, 255], with
``x`` the sample in [0, 1] and bayer8 the 8x8 Bayer matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.errors import CorruptFileError, MissingDependencyError

__all__ = ["CODESTREAM", "CONTAINER", "decode_jxl", "jxl_header"]

CODESTREAM = b"\xff\x0a"
CONTAINER = b"\0\0\0\x0cJXL \r\n\x87\n"
# SizeHeader: xsize = ysize * num // den for ratio codes 1..7.
_RATIOS = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))
# U32 fields: a 2-bit selector picks (value, extra bits): value + u(extra bits).
_SIZE = ((1, 9), (1, 13), (1, 18), (1, 30))
_PREVIEW_DIV8 = ((16, 0), (32, 0), (1, 5), (33, 9))
_PREVIEW = ((1, 6), (65, 8), (321, 10), (1345, 12))
_TPS_NUM = ((100, 0), (1000, 0), (1, 10), (1, 30))
_TPS_DEN = ((1, 0), (1001, 0), (1, 8), (1, 10))
_LOOPS = ((0, 0), (0, 3), (0, 16), (0, 32))
_INT_BITS = ((8, 0), (10, 0), (12, 0), (1, 6))
_FLOAT_BITS = ((32, 0), (16, 0), (24, 0), (1, 6))


def _error(message: str) -> CorruptFileError:
    return CorruptFileError(f"invalid JPEG XL image: {message}")


def _codestream_head(data: bytes) -> bytes:
    """The first bytes of the codestream: the file itself, or its jxlc/jxlp box payloads."""
    if data.startswith(CODESTREAM):
        return data
    if not data.startswith(CONTAINER):
        raise _error("no JPEG XL signature")
    pos, parts, have = 0, [], 0
    while pos + 8 <= len(data) and have < 64:
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        head = 8
        if size == 1:
            if pos + 16 > len(data):
                break
            size, head = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        end = len(data) if size == 0 else pos + size
        if end < pos + head:
            raise _error(f"box {kind!r} has size {size}")
        if kind in (b"jxlc", b"jxlp"):
            part = data[pos + head + (4 if kind == b"jxlp" else 0):end]
            parts.append(part)
            have += len(part)
        pos = end
    return b"".join(parts)


class _Bits:
    """Reads the codestream's bit-packed fields, least significant bit first."""

    def __init__(self, data: bytes) -> None:
        self.value, self.end, self.pos = int.from_bytes(data[:64], "little"), 8 * min(len(data), 64), 0

    def read(self, n: int) -> int:
        if self.pos + n > self.end:
            raise _error("the header is truncated")
        v = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return v

    def u32(self, choices: tuple[tuple[int, int], ...]) -> int:
        base, extra = choices[self.read(2)]
        return base + self.read(extra)

    def size(self, preview: bool) -> tuple[int, int]:
        """(height, width) of a SizeHeader or, with ``preview``, a PreviewHeader."""
        div8 = self.read(1)

        def dim() -> int:
            if not div8:
                return self.u32(_PREVIEW if preview else _SIZE)
            return 8 * (self.u32(_PREVIEW_DIV8) if preview else self.read(5) + 1)

        height = dim()
        ratio = self.read(3)
        if ratio == 0:
            return height, dim()
        num, den = _RATIOS[ratio - 1]
        return height, height * num // den


def jxl_header(data: bytes) -> tuple[int, int, int]:
    """(height, width, bits per sample) from the codestream's SizeHeader and ImageMetadata."""
    code = _codestream_head(data)
    if not code.startswith(CODESTREAM):
        raise _error("no codestream")
    bits = _Bits(code[2:])
    height, width = bits.size(False)
    if bits.read(1):  # ImageMetadata.all_default: 8-bit samples
        return height, width, 8
    if bits.read(1):  # extra_fields
        bits.read(3)  # orientation
        if bits.read(1):  # have_intrinsic_size
            bits.size(False)
        if bits.read(1):  # have_preview
            bits.size(True)
        if bits.read(1):  # have_animation
            bits.u32(_TPS_NUM), bits.u32(_TPS_DEN), bits.u32(_LOOPS), bits.read(1)
    depth = bits.u32(_FLOAT_BITS if bits.read(1) else _INT_BITS)
    return height, width, depth


def _imagecodecs() -> Any:
    try:
        import imagecodecs
    except ImportError:
        raise MissingDependencyError(
            "JPEG XL needs imagecodecs: pip install 'savedmodel-io[jxl]'") from None
    return imagecodecs


def _bayer8() -> np.ndarray:
    """The 8x8 Bayer ordered-dither matrix (values 0..63)."""
    m = np.zeros((1, 1), np.int64)
    while m.shape[0] < 8:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


def _to_uint8(px: np.ndarray) -> np.ndarray:
    """Samples scaled to [0, 1] (float32) as libjxl's ordered-dithered 8 bits."""
    h, w = px.shape[:2]
    b = _bayer8()[np.arange(h)[:, None] % 8, np.arange(w)[None, :] % 4]
    dither = ((b + 0.5) / 64 - 0.5).astype(np.float32)[..., None]
    out: np.ndarray = np.clip(np.rint(px * np.float32(255) + dither), 0, 255).astype(np.uint8)
    return out


def decode_jxl(data: bytes, bits_per_sample: int) -> np.ndarray:
    """The first frame as uint8 (height, width, channels), as TensorFlow's DecodeJxl gives it."""
    codecs = _imagecodecs()
    try:
        px = codecs.jpegxl_decode(data, index=0, numthreads=1)
    except Exception as exc:  # imagecodecs raises its own JpegxlError (and ValueError)
        raise _error(f"libjxl cannot decode it ({exc})") from None
    px = np.asarray(px)
    if px.ndim == 2:
        px = px[..., None]
    if px.ndim != 3:
        raise _error(f"decoded to shape {list(px.shape)}")
    if px.dtype.kind == "f":
        return _to_uint8(px.astype(np.float32))
    if px.dtype == np.uint8 and bits_per_sample == 8:
        return px
    return _to_uint8(px.astype(np.float32) / np.float32((1 << bits_per_sample) - 1))
