"""Image codec kernels against ``tf.raw_ops``: DecodePng (every colour type, bit depth, tRNS
form and interlacing, as uint8 and uint16), DecodeGif (still, interlaced, animated,
optimised, transparent), DecodeBmp, DecodeJpeg / DecodeAndCropJpeg / ExtractJpegShape
(exact where TF's options have a Pillow equivalent, within JPEG_TOLERANCE for TF's default
IFAST + fancy upsampling), DecodeImage (dtype, expand_animations), DecodeWebP (still and
alpha; TF 2.21 corrupts its heap decoding animated WebP, so those are checked against
Pillow's own frames in test_image_codecs.py), EncodePng and EncodeJpeg /
EncodeJpegVariableQuality (byte-identical to TF's on these images), plus the errors TF
raises for mismatched ops, bad attrs and corrupt files.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from .image_files import animated_gif, photo, pillow_file, png_corpus
from .raw_ops_harness import Cases, oracle_results, run_ours
from _oracles.codec import decode

pytest.importorskip("PIL")

CASES = Cases(seed=7007)
add = CASES.add
RS = CASES.rs
# TF's default JPEG decode (IFAST DCT with fancy upsampling) has no Pillow equivalent: the
# accurate DCT is used, which differs by a few levels (measured max 5/255, mean ~1).
JPEG_TOLERANCE = 6
# So does ISLOW without fancy upsampling on chroma-subsampled files (IFAST is used).
INEXACT = {(name, "INTEGER_ACCURATE", False) for name in ("420", "progressive")} | \
    {("cmyk", "INTEGER_FAST", False)}


def blob(data: bytes) -> np.ndarray:
    """A scalar string tensor."""
    return np.array(data, dtype=object)


PNGS = png_corpus(RS)
IMG = photo(RS, 17, 23)
GIFS = {
    "still": pillow_file(IMG, "GIF"),
    "not_interlaced": pillow_file(IMG, "GIF", interlace=False),
    "grey": pillow_file(IMG, "GIF", mode="L"),
    "animated": animated_gif(RS, 12, 15, 4),
    "optimized": animated_gif(RS, 12, 15, 4, optimize=True, disposal=1),
    "transparent": animated_gif(RS, 12, 15, 3, transparency=0, disposal=2),
}
BMPS = {mode: pillow_file(IMG, "BMP", mode=mode) for mode in ("RGB", "RGBA", "L")}
JPEGS = {
    "420": pillow_file(IMG, "JPEG", quality=80),
    "444": pillow_file(IMG, "JPEG", quality=90, subsampling=0),
    "grey": pillow_file(IMG, "JPEG", mode="L", quality=85),
    "cmyk": pillow_file(IMG, "JPEG", mode="CMYK", quality=85),
    "progressive": pillow_file(photo(RS, 33, 41), "JPEG", quality=75, progressive=True),
}


def _png() -> None:
    for name, data in PNGS.items():
        for ch in (0, 1, 3, 4):
            for dt in ("uint8", "uint16"):
                add("DecodePng", f"{name}-c{ch}-{dt}", {"channels": ch, "dtype": {"dtype": dt}},
                    contents=blob(data))
    data = PNGS["c2d8i0"]
    add("DecodeImage", "png-float", {"dtype": {"dtype": "float32"}}, contents=blob(data))
    add("DecodeImage", "png16-float", {"dtype": {"dtype": "float32"}},
        contents=blob(PNGS["c2d16i1"]))
    add("DecodeGif", "png", contents=blob(data))
    add("DecodeJpeg", "png", contents=blob(data))
    add("DecodeBmp", "png", contents=blob(data))
    add("DecodePng", "channels2", {"channels": 2}, contents=blob(data))
    add("DecodePng", "truncated", contents=blob(data[:len(data) // 2]))
    add("DecodePng", "bad_crc", contents=blob(data[:40] + bytes([data[40] ^ 1]) + data[41:]))
    add("DecodePng", "empty", contents=blob(b""))
    add("DecodePng", "garbage", contents=blob(b"not an image at all"))
    add("DecodePng", "vector", contents=np.array([data], dtype=object))


def _gif() -> None:
    for name, data in GIFS.items():
        add("DecodeGif", name, contents=blob(data))
        add("DecodeImage", f"gif-{name}", contents=blob(data))
        add("DecodeImage", f"gif-{name}-first", {"expand_animations": False}, contents=blob(data))
        add("DecodePng", f"gif-{name}", contents=blob(data))
    add("DecodeImage", "gif-float", {"dtype": {"dtype": "float32"}}, contents=blob(GIFS["still"]))
    add("DecodeImage", "gif-uint16", {"dtype": {"dtype": "uint16"}},
        contents=blob(GIFS["animated"]))
    add("DecodeImage", "gif-channels1", {"channels": 1}, contents=blob(GIFS["still"]))
    add("DecodeGif", "truncated", contents=blob(GIFS["still"][:60]))


def _bmp() -> None:
    for mode, data in BMPS.items():
        for ch in (0, 3, 4):
            add("DecodeBmp", f"{mode}-c{ch}", {"channels": ch}, contents=blob(data))
        add("DecodeImage", f"bmp-{mode}-float", {"dtype": {"dtype": "float32"}},
            contents=blob(data))
    add("DecodeBmp", "channels1", {"channels": 1}, contents=blob(BMPS["RGB"]))
    add("DecodeBmp", "truncated", contents=blob(BMPS["RGB"][:-3]))
    add("DecodePng", "bmp", contents=blob(BMPS["RGB"]))
    add("DecodeBmp", "short", contents=blob(b"BM" + bytes(20)))


def _jpeg() -> None:
    exact = (("INTEGER_ACCURATE", True), ("INTEGER_ACCURATE", False), ("INTEGER_FAST", False))
    for name, data in JPEGS.items():
        for dct, fancy in exact:
            if (name, dct, fancy) in INEXACT:
                continue
            for ch in (0, 1, 3):
                add("DecodeJpeg", f"{name}-{dct}-fancy{fancy}-c{ch}",
                    {"channels": ch, "dct_method": dct, "fancy_upscaling": fancy},
                    contents=blob(data))
        for ratio in (2, 4, 8):
            add("DecodeJpeg", f"{name}-ratio{ratio}",
                {"ratio": ratio, "dct_method": "INTEGER_ACCURATE"},
                contents=blob(data))
        add("ExtractJpegShape", name, contents=blob(data))
        add("ExtractJpegShape", f"{name}-int64", {"output_type": {"dtype": "int64"}},
            contents=blob(data))
    data = JPEGS["444"]
    add("DecodeAndCropJpeg", "crop", {"dct_method": "INTEGER_ACCURATE"}, contents=blob(data),
        crop_window=np.int32([2, 3, 9, 12]))
    add("DecodeAndCropJpeg", "crop_outside", contents=blob(data),
        crop_window=np.int32([10, 3, 9, 12]))
    add("DecodeAndCropJpeg", "png", contents=blob(PNGS["c2d8i0"]),
        crop_window=np.int32([0, 0, 2, 2]))
    add("DecodeJpeg", "channels4", {"channels": 4}, contents=blob(data))
    add("DecodeJpeg", "bad_ratio", {"ratio": 3}, contents=blob(data))
    add("DecodeJpeg", "truncated", contents=blob(data[:len(data) // 3]))
    add("ExtractJpegShape", "png", contents=blob(PNGS["c2d8i0"]))


def _encode() -> None:
    for c in (1, 2, 3, 4):
        for dt in ("uint8", "uint16"):
            img = RS.randint(0, 256, (11, 14, c)).astype(dt)
            if dt == "uint16":
                img = img * 257 + 3
            for level in (-1, 1, 9):
                add("EncodePng", f"c{c}-{dt}-l{level}", {"compression": level}, image=img)
    add("EncodePng", "photo", image=IMG)
    # Pillow's libjpeg-turbo writes the bytes TensorFlow's does, for every option.
    options = [{}, {"quality": 50}, {"quality": 100, "chroma_downsampling": False},
               {"progressive": True}, {"optimize_size": True}, {"format": "grayscale"},
               {"format": "rgb", "quality": 0}, {"density_unit": "cm", "x_density": 72,
                                                  "y_density": 96},
               {"xmp_metadata": "<x:xmpmeta/>"}]
    for i, attrs in enumerate(options):
        image = IMG[..., :1] if attrs.get("format") == "grayscale" else IMG
        add("EncodeJpeg", f"opt{i}", attrs, image=image)
    add("EncodeJpeg", "grey_auto", image=IMG[..., :1])
    add("EncodeJpeg", "two_channels", image=IMG[..., :2])
    add("EncodeJpeg", "rgb_of_grey", {"format": "rgb"}, image=IMG[..., :1])
    add("EncodeJpeg", "quality_101", {"quality": 101}, image=IMG)
    add("EncodeJpeg", "empty", image=np.zeros((0, 4, 3), np.uint8))
    add("EncodeJpegVariableQuality", "q30", images=IMG, quality=np.int32(30))
    add("EncodeJpegVariableQuality", "grey", images=IMG[..., :1], quality=np.int32(70))
    add("EncodePng", "rank2", image=IMG[..., 0])
    add("EncodePng", "five_channels", image=np.zeros((2, 2, 5), np.uint8))
    add("EncodePng", "empty", image=np.zeros((0, 3, 3), np.uint8))


def _webp() -> None:
    rgba = np.concatenate([IMG, IMG[..., :1]], -1)
    files = {"lossless": pillow_file(IMG, "WEBP", lossless=True),
             "lossy": pillow_file(IMG, "WEBP", quality=80),
             "alpha": pillow_file(rgba, "WEBP", quality=80)}
    for name, data in files.items():
        for ch in (0, 3, 4):
            add("DecodeWebP", f"{name}-c{ch}", {"channels": ch}, contents=blob(data))
        add("DecodeImage", f"webp-{name}", contents=blob(data))
        add("DecodeImage", f"webp-{name}-first", {"expand_animations": False}, contents=blob(data))
    add("DecodeImage", "webp-uint16", {"dtype": {"dtype": "uint16"}},
        contents=blob(files["lossy"]))
    add("DecodeWebP", "truncated", contents=blob(files["lossy"][:40]))


_png()
_gif()
_bmp()
_jpeg()
_webp()
_encode()

test_kernel_matches_tensorflow = CASES.test()


SCALES: dict[str, float] = {}


@pytest.mark.tf
def test_default_jpeg_decode_is_within_tolerance():
    """TF's default decode (IFAST + fancy upsampling) against ours (ISLOW + fancy), and
    ISLOW without fancy upsampling against ours (IFAST without)."""
    cases = Cases(seed=7008)
    for name, data in JPEGS.items():
        cases.add("DecodeJpeg", f"default-{name}", contents=blob(data))
    for name, dct, fancy in sorted(INEXACT):
        cases.add("DecodeJpeg", f"{name}-{dct}-{fancy}",
                  {"dct_method": dct, "fancy_upscaling": fancy},
                  contents=blob(JPEGS[name]))
    for dt, scale in (("uint8", 1), ("uint16", 256), ("float32", 1 / 255)):
        cases.add("DecodeImage", f"jpeg-{dt}", {"dtype": {"dtype": dt}},
                  contents=blob(JPEGS["420"]))
        SCALES[f"DecodeImage-jpeg-{dt}"] = scale
    answers = oracle_results(cases)
    for case in cases:
        got = run_ours(case, base64.b64decode(answers[case.id]["node_def"]), 1)[0]
        want = decode(answers[case.id]["outputs"][0])
        assert got.shape == want.shape and got.dtype == want.dtype, case.id
        tol = JPEG_TOLERANCE * SCALES.get(case.id, 1) * (1 + 1e-6)
        assert np.abs(got.astype(np.float64) - want.astype(np.float64)).max() <= tol, case.id
