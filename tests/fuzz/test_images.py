"""Fuzz the image decoders (PNG, GIF, BMP, the JPEG header walk and Pillow behind it, the JPEG
XL header reader and libjxl behind it, and the DecodeImage kernel's dispatch, WebP and JPEG XL
included) from small real files of every layout."""

from __future__ import annotations

import numpy as np
import pytest

from graph.image_files import animated_gif, photo, pillow_file, png_corpus

from .harness import fuzz
from .targets import TARGETS, available


def _need(name: str) -> None:
    why = available(name)
    if why:
        pytest.skip(why)


def _pillow_seeds(fmt: str, modes: tuple[str | None, ...], **options) -> list[bytes]:
    pytest.importorskip("PIL")
    img = photo(np.random.RandomState(0), 9, 11)
    return [pillow_file(img, fmt, mode=m, **options) for m in modes]


def test_fuzz_png(fuzz_mode):
    _need("image_png")
    fuzz("image_png", TARGETS["image_png"], list(png_corpus(np.random.RandomState(0)).values()),
         fuzz_mode)


def test_fuzz_gif(fuzz_mode):
    _need("image_gif")
    seeds = _pillow_seeds("GIF", (None, "L"))
    seeds.append(animated_gif(np.random.RandomState(0), 8, 9, 3, optimize=True, transparency=0))
    fuzz("image_gif", TARGETS["image_gif"], seeds, fuzz_mode)


def test_fuzz_bmp(fuzz_mode):
    _need("image_bmp")
    fuzz("image_bmp", TARGETS["image_bmp"], _pillow_seeds("BMP", ("RGB", "RGBA", "L")), fuzz_mode)


def test_fuzz_jpeg(fuzz_mode):
    _need("image_jpeg")
    seeds = _pillow_seeds("JPEG", ("RGB", "L", "CMYK"), quality=70)
    seeds += _pillow_seeds("JPEG", ("RGB",), progressive=True, subsampling=0)
    fuzz("image_jpeg", TARGETS["image_jpeg"], seeds, fuzz_mode)


def _jxl_seeds() -> list[bytes]:
    codecs = pytest.importorskip("imagecodecs")
    rs = np.random.RandomState(0)
    return [codecs.jpegxl_encode(rs.randint(0, 256, (5, 7, 3)).astype(np.uint8), lossless=True),
            codecs.jpegxl_encode(rs.randint(0, 4096, (6, 4, 4)).astype(np.uint16), lossless=True,
                                 bitspersample=12, usecontainer=True),
            codecs.jpegxl_encode(rs.randint(0, 256, (2, 8, 8)).astype(np.uint8), lossless=True,
                                 photometric="minisblack")]


def test_fuzz_jxl(fuzz_mode):
    _need("image_jxl")
    fuzz("image_jxl", TARGETS["image_jxl"], _jxl_seeds(), fuzz_mode)


def test_fuzz_decode_image_op(fuzz_mode):
    _need("image_decode_op")
    seeds = list(png_corpus(np.random.RandomState(1)).values())[:6]
    seeds += _pillow_seeds("GIF", (None,)) + _pillow_seeds("BMP", ("RGB",))
    seeds += _pillow_seeds("JPEG", ("RGB",))
    if "WEBP" in pytest.importorskip("PIL.Image").SAVE:  # Pillow built with libwebp
        seeds += _pillow_seeds("WEBP", ("RGB", "RGBA"), lossless=True)
    try:
        seeds += _jxl_seeds()[:1]
    except pytest.skip.Exception:
        pass
    fuzz("image_decode_op", TARGETS["image_decode_op"], seeds, fuzz_mode)
