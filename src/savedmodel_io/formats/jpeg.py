"""JPEG (and WebP): header facts from the bytes, pixels through Pillow (the ``image`` extra).

The header walk (markers up to the first scan) gives what tf.image.extract_jpeg_shape
gives without decoding. Decoding and encoding use Pillow, whose libjpeg-turbo is the
library TensorFlow links (tensorflow/tensorflow tensorflow/core/lib/jpeg/jpeg_mem.cc):

* TensorFlow's ``dct_method="INTEGER_ACCURATE"`` is libjpeg's JDCT_ISLOW with fancy
  upsampling, which is Pillow's default decode: bit-identical.
* ``dct_method="INTEGER_FAST"`` (JDCT_IFAST) without fancy upscaling is Pillow's draft
  decode: bit-identical.
* TensorFlow's default, JDCT_IFAST *with* fancy upscaling, has no Pillow equivalent; the
  accurate transform is used instead and pixels differ by at most a few levels (measured:
  <= 5 of 255, mean ~1 on noisy photos; see docs/ops.md). So does JDCT_ISLOW without fancy
  upscaling on chroma-subsampled files (Pillow's IFAST is used).
* ``ratio`` (1/2/4/8) is libjpeg's DCT scaling in both: bit-identical.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np

from savedmodel_io.errors import CorruptFileError, LimitExceededError, MissingDependencyError

__all__ = ["JPEG_MAGIC", "JpegFlags", "decode_jpeg", "decode_webp", "encode_jpeg", "jpeg_header",
           "pillow"]

JPEG_MAGIC = b"\xff\xd8\xff"
_MAX_PIXELS = 1 << 29  # tensorflow/core/lib/jpeg/jpeg_mem.cc refuses larger images
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _error(message: str) -> CorruptFileError:
    return CorruptFileError(f"invalid JPEG: {message}")


def jpeg_header(data: bytes) -> tuple[int, int, int]:
    """(height, width, components) from the frame header, walking markers up to the first scan."""
    h, w, comps, _ = _frame(data)
    return h, w, comps


def _frame(data: bytes) -> tuple[int, int, int, bool]:
    """(height, width, components, chroma subsampled) of the frame header."""
    if not data.startswith(b"\xff\xd8"):
        raise _error("no start-of-image marker")
    pos, frame = 2, None
    n = len(data)
    while True:
        while pos < n and data[pos] != 0xFF:
            pos += 1  # libjpeg skips garbage between markers
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise _error("the file ends before the first scan")
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker == 0xD9:
            raise _error("end of image before the first scan")
        if pos + 2 > n:
            raise _error("truncated marker")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2 or pos + length > n:
            raise _error(f"marker 0x{marker:02x} runs past the end of the file")
        if marker in _SOF:
            if frame is not None or length < 8:
                raise _error("bad frame header")
            _, h, w, comps = struct.unpack_from(">BHHB", data, pos + 2)
            if length != 8 + 3 * comps or comps == 0:
                raise _error("bad frame header length")
            if h == 0 or w == 0:
                raise _error("empty image")
            factors = {data[pos + 9 + 3 * i] for i in range(comps)}
            frame = (h, w, comps, len(factors) > 1)
        elif marker == 0xDA:
            if frame is None:
                raise _error("scan before the frame header")
            return frame
        pos += length


def pillow() -> Any:
    """PIL.Image, or MissingDependencyError naming the extra that installs it."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "JPEG and WebP need Pillow: pip install 'savedmodel-io[image]'") from None
    return Image


class JpegFlags:
    """TensorFlow's decode options (tf.io.decode_jpeg's arguments)."""

    def __init__(self, channels: int = 0, ratio: int = 1, fancy_upscaling: bool = True,
                 dct_method: str = "") -> None:
        self.channels, self.ratio = channels, ratio
        self.fancy_upscaling, self.dct_method = fancy_upscaling, dct_method


def _open(data: bytes, kind: str) -> Any:
    image = pillow()
    try:
        return image.open(io.BytesIO(data), formats=[kind])
    except image.DecompressionBombError:
        # Pillow refuses images over 2 * Image.MAX_IMAGE_PIXELS before decoding them.
        raise LimitExceededError(f"{kind} image is larger than Pillow decodes "
                                 f"({2 * (image.MAX_IMAGE_PIXELS or 0)} pixels)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFileError(f"invalid {kind}: {exc}") from None


def _load(im: Any, kind: str) -> Any:
    try:
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"invalid {kind}: {exc}") from None
    return im


def decode_jpeg(data: bytes, flags: JpegFlags,
                crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """(height, width, channels) uint8 as tf.io.decode_jpeg (decode_and_crop_jpeg) returns it."""
    h, w, comps, subsampled = _frame(data)
    if h * w >= _MAX_PIXELS:
        raise LimitExceededError(f"JPEG of {w}x{h} pixels is too large (limit {_MAX_PIXELS})")
    if comps == 4 and flags.channels == 1:
        raise _error("Unsupported color conversion request (CMYK to grey)")
    im = _open(data, "JPEG")
    if flags.channels == 1 and im.mode in ("RGB", "YCbCr"):
        im.draft("L", None)  # libjpeg's own grey output (the luma plane), as TensorFlow asks
    # Pillow decodes either as ISLOW with fancy upsampling or as IFAST without: without
    # fancy upscaling the upsampling matters more than the transform (unless no channel is
    # subsampled), so IFAST is picked whenever TF does not upscale fancily.
    accurate = flags.dct_method == "INTEGER_ACCURATE"
    draft = 1 if not flags.fancy_upscaling and (subsampled or not accurate) else 0
    if flags.ratio > 1 or draft:
        _scale(im, flags.ratio, draft)
    _load(im, "JPEG")
    want = flags.channels or (1 if comps == 1 else 3)
    mode = {1: "L", 3: "RGB"}[want]
    px = np.asarray(im if im.mode == mode else im.convert(mode))
    px = px.reshape(px.shape[0], px.shape[1], want)
    if crop is not None:
        y, x, ch, cw = crop
        if y < 0 or x < 0 or ch <= 0 or cw <= 0 or y + ch > px.shape[0] or x + cw > px.shape[1]:
            raise _error(f"crop window {list(crop)} is outside the "
                         f"{px.shape[1]}x{px.shape[0]} image")
        px = px[y:y + ch, x:x + cw]
    return np.ascontiguousarray(px)


def _scale(im: Any, ratio: int, draft: int) -> None:
    """libjpeg's 1/ratio DCT scaling, and its fast settings (IFAST, no fancy upsampling)."""
    w, h = im.size
    size = ((w + ratio - 1) // ratio, (h + ratio - 1) // ratio)
    tile = im.tile[0]
    im.tile = [type(tile)(tile[0], (0, 0, *size), tile[2], tile[3])]
    im._size = size
    im.decoderconfig = (ratio, draft)


def decode_webp(data: bytes, channels: int = 0,
                max_bytes: int = 1 << 32) -> tuple[np.ndarray, bool]:
    """(frames, height, width, channels) uint8 of a WebP and whether it is animated.

    The frames' total size (from the header and the frame count) must fit in ``max_bytes``
    before any frame is decoded: an animation of many large frames is a few KB of input.
    """
    im = _open(data, "WEBP")
    animated = bool(getattr(im, "is_animated", False))
    has_alpha = "A" in im.mode or animated
    want = 4 if has_alpha else 3
    if channels and channels != want:
        raise _error_webp("Number of channels requested does not match input")
    count = getattr(im, "n_frames", 1)
    w, h = im.size
    if count * h * w * want > max_bytes:
        raise LimitExceededError(f"WebP of {count} frames of {w}x{h} pixels would decode to "
                                 f"more than {max_bytes} bytes")
    frames = []
    for i in range(count):
        im.seek(i)
        frames.append(np.asarray(_load(im, "WebP").convert("RGBA" if want == 4 else "RGB")))
    return np.stack(frames), animated


def _error_webp(message: str) -> CorruptFileError:
    return CorruptFileError(f"WebP: {message}")


def encode_jpeg(image: np.ndarray, quality: int = 95, progressive: bool = False,
                optimize_size: bool = False, chroma_downsampling: bool = True,
                density_unit: str = "in", x_density: int = 300, y_density: int = 300,
                xmp_metadata: bytes = b"") -> bytes:
    """JPEG bytes of an (height, width, 1 or 3) uint8 image, with TensorFlow's JFIF header."""
    image_mod = pillow()
    mode = "L" if image.shape[2] == 1 else "RGB"
    im = image_mod.fromarray(np.ascontiguousarray(image.reshape(image.shape[:2]) if mode == "L"
                                                  else image), mode)
    out = io.BytesIO()
    options: dict[str, Any] = {"quality": quality, "progressive": progressive,
                               "optimize": optimize_size, "dpi": (1, 1),
                               # a grey image has no chroma: TF declares it unsampled (1x1)
                               "subsampling": 2 if chroma_downsampling and mode == "RGB" else 0}
    if xmp_metadata:
        options["xmp"] = xmp_metadata
    im.save(out, "JPEG", **options)
    data = bytearray(out.getvalue())
    # The JFIF segment Pillow writes first: unit at offset 13, densities at 14 and 16.
    if data[2:4] == b"\xff\xe0" and data[6:11] == b"JFIF\0":
        data[13] = 2 if density_unit == "cm" else 1
        # libjpeg keeps the densities as UINT16 (jpeglib.h X_density/Y_density) and
        # tensorflow/core/lib/jpeg/jpeg_mem.cc assigns the int attrs to them: modulo 2^16.
        struct.pack_into(">HH", data, 14, x_density & 0xFFFF, y_density & 0xFFFF)
    return bytes(data)
