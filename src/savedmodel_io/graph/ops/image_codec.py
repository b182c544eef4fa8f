"""Image codecs: DecodePng/Gif/Bmp/Jpeg/Image/WebP/Jxl, DecodeAndCropJpeg, ExtractJpegShape,
EncodePng, EncodeJpeg, EncodeJpegVariableQuality.

Every decode op sniffs the format from the magic bytes and decodes whatever it finds
(DecodePng of a JPEG works, as in TensorFlow), with the op deciding the output rank,
dtype and the formats it refuses: tensorflow/tensorflow
tensorflow/core/kernels/image/decode_image_op.cc (DecodeImageV2Op). PNG, GIF and BMP
are decoded with numpy and the standard library (savedmodel_io.formats.png/gif/bmp);
JPEG and WebP need Pillow (the ``image`` extra), JPEG XL needs imagecodecs (the ``jxl``
extra), and an op that meets one without its extra stops with UnsupportedOpError naming
it. Decoding untrusted bytes is bounded: sizes are checked from the headers before
anything is allocated.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.errors import (
    FormatError,
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    UnsupportedOpError,
)
from savedmodel_io.formats import bmp, gif, jpeg, jxl, png
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import MAX_RESULT_BYTES, attr_str, bad, check_size, np_dtype

_F = np.float32


def _format(data: bytes) -> str:
    """The file format by its magic bytes (ClassifyFileFormat)."""
    if data.startswith(jpeg.JPEG_MAGIC):
        return "jpeg"
    if data.startswith(png.SIGNATURE):
        return "png"
    if data.startswith(b"GIF8"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data.startswith(b"RIFF") and len(data) > 12 and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(jxl.CODESTREAM) or data.startswith(jxl.CONTAINER):
        return "jxl"
    return "unknown"


def _contents(node, value) -> bytes:
    v = np.asarray(value)
    if v.ndim != 0:
        raise bad(node, f"`contents` must be scalar but got shape {list(v.shape)}")
    data = v.item()
    data = data if isinstance(data, bytes) else str(data).encode()
    if not data:
        raise bad(node, "Input is empty.")
    return data


def _convert(px: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 pixels in the op's dtype: uint16 scaled by 256, float by 1/255 (as TF scales them)."""
    if dtype == np.uint8:
        return px
    if dtype == np.uint16:
        return px.astype(np.uint16) * np.uint16(256)
    return px.astype(_F) * _F(1.0 / 255)


def _run_codec(node, fn, *args):
    """Call a format decoder/encoder, turning its errors into errors naming the node."""
    try:
        return fn(*args)
    except MissingDependencyError as exc:
        raise UnsupportedOpError(f"{node.op}: {exc.message}", where=node.where) from None
    except LimitExceededError as exc:
        raise LimitExceededError(exc.message, where=node.where) from None
    except FormatError as exc:
        raise InvalidArgumentError(exc.message, where=node.where) from None


def _decode(node, inputs, ctx) -> np.ndarray:
    op = node.op
    channels = 3 if op == "DecodeGif" else int(node.attr["channels"])
    if channels not in (0, 1, 3, 4):
        raise bad(node, f"`channels` must be 0, 1, 3 or 4 but got {channels}")
    dtype = np.dtype(np.uint8)
    if op in ("DecodePng", "DecodeImage"):
        dtype = np_dtype(node.attr["dtype"])
        allowed = (np.uint8, np.uint16) if op == "DecodePng" else (np.uint8, np.uint16, _F)
        if dtype not in allowed:
            names = [np.dtype(a).name for a in allowed]
            raise bad(node, f"`dtype` for `{op}` must be one of {names}")
    flags = jpeg.JpegFlags(channels)
    if op in ("DecodeJpeg", "DecodeAndCropJpeg"):
        flags.ratio = int(node.attr["ratio"])
        if flags.ratio not in (1, 2, 4, 8):
            raise bad(node, f"ratio must be 1, 2, 4, or 8, got {flags.ratio}")
        flags.fancy_upscaling = bool(node.attr["fancy_upscaling"])
        flags.dct_method = attr_str(node, "dct_method")
        if flags.dct_method not in ("", "INTEGER_FAST", "INTEGER_ACCURATE"):
            raise bad(node, "dct_method must be one of {'', 'INTEGER_FAST', 'INTEGER_ACCURATE'}")
    expand = bool(node.attr["expand_animations"]) if op == "DecodeImage" else True
    data = _contents(node, inputs[0])
    kind = _format(data)
    if kind == "unknown":
        raise bad(node, "Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP "
                        "required.")
    if kind == "jxl":
        return _decode_jxl(node, data, channels, dtype)
    if op == "DecodeBmp" and kind != "bmp":
        raise bad(node, f"Trying to decode {kind.upper()} format using DecodeBmp op. Use "
                        f"`decode_{kind}` or `decode_image` instead.")
    if op == "DecodeAndCropJpeg" and kind != "jpeg":
        raise bad(node, f"DecodeAndCropJpeg operation can run on JPEG only, but detected "
                        f"{kind.upper()}.")
    four_d = op == "DecodeGif"
    if kind == "jpeg":
        if channels == 4:
            raise bad(node, "JPEG does not support 4 channels")
        crop = None
        if op == "DecodeAndCropJpeg":
            window = np.asarray(inputs[1])
            if window.shape != (4,):
                raise bad(node, f"crop_window must be a 1-D tensor of four elements, got shape "
                                f"{list(window.shape)}")
            crop = tuple(int(v) for v in window)
        h, w, _ = _run_codec(node, jpeg.jpeg_header, data)
        check_size(node, (h, w, 3), dtype.itemsize)
        px = _convert(_run_codec(node, jpeg.decode_jpeg, data, flags, crop), dtype)
    elif kind == "png":
        width, height, _, _ = _run_codec(node, png.png_header, data)
        check_size(node, (height, width, 4), 2)
        bits16 = dtype != np.uint8
        px = _run_codec(node, png.decode_png, data, channels, bits16)
        if dtype == _F:
            px = px.astype(_F) * _F(1.0 / 65535)
    elif kind == "gif":
        if channels not in (0, 3):
            raise bad(node, f"channels must be 0 or 3 for GIF, got {channels}")
        if op not in ("DecodeGif", "DecodeImage", "DecodePng", "DecodeJpeg"):
            raise bad(node, f"Trying to decode GIF format using a wrong op: {op}")
        frames = _run_codec(node, gif.decode_gif, data, expand or op != "DecodeImage",
                            min(gif.MAX_BYTES, MAX_RESULT_BYTES),
                            lambda n: ctx.meter.elements(n, node.where))
        if op in ("DecodePng", "DecodeJpeg"):
            if frames.shape[0] != 1:
                raise bad(node, f"Got {frames.shape[0]} frames, but animated gifs can only be "
                                f"decoded by tf.io.decode_gif or tf.io.decode_image")
            frames = frames[0]
        elif op == "DecodeImage" and not expand:
            frames = frames[0]
        return _convert(frames, dtype)
    elif kind == "bmp":
        if channels == 1:
            raise bad(node, f"`channels` must be 0, 3 or 4 for BMP, but got {channels}")
        if op not in ("DecodeBmp", "DecodeImage"):
            raise bad(node, f"Trying to decode BMP format using a wrong op. Use `decode_bmp` or "
                            f"`decode_image` instead. Op used: {op}")
        px = _convert(_run_codec(node, bmp.decode_bmp, data, channels), dtype)
    else:  # webp
        if channels not in (0, 3, 4):
            raise bad(node, "WebP only supports 3 or 4 channels")
        if dtype != np.uint8:
            raise bad(node, "WebP only supports uint8 for dtype")
        frames, animated = _run_codec(node, jpeg.decode_webp, data, channels, MAX_RESULT_BYTES)
        if animated and channels not in (0, 4):
            raise bad(node, "WebP Animation must be 4 channel RGBA")
        return frames if expand else frames[0]
    return px[None] if four_d else px


def _decode_jxl(node, data: bytes, channels: int, dtype: np.dtype) -> np.ndarray:
    """A JPEG XL image through any decode op: always 3-D uint8, its first frame only
    (tensorflow/core/kernels/image/decode_image_op.cc DecodeImageV2Op::DecodeJxl)."""
    if dtype != np.uint8:
        raise bad(node, "JXL only supports uint8 for dtype")
    height, width, bits = _run_codec(node, jxl.jxl_header, data)
    # libjxl decodes into float32 planes: bound them before it allocates.
    check_size(node, (height, width, 4), 4)
    px = _run_codec(node, jxl.decode_jxl, data, bits)
    if px.shape[2] > 4:
        raise UnsupportedOpError(f"{node.op}: JPEG XL image with {px.shape[2]} channels",
                                 where=node.where)
    if channels not in (0, px.shape[2]):
        raise bad(node, "Number of channels requested does not match input")
    return px


@kernel("DecodePng", "DecodeJpeg", "DecodeGif", "DecodeBmp", "DecodeImage", "DecodeAndCropJpeg",
        "DecodeWebP", "DecodeJxl")
def decode_image(node, inputs, ctx):
    return _decode(node, inputs, ctx)


@kernel("ExtractJpegShape")
def extract_jpeg_shape(node, inputs, ctx):
    data = _contents(node, inputs[0])
    h, w, c = _run_codec(node, jpeg.jpeg_header, data)
    return np.array([h, w, c], np_dtype(node.attr["output_type"]))


# -- encoders ------------------------------------------------------------------------------------

@kernel("EncodePng")
def encode_png(node, inputs, ctx):
    image = np.asarray(inputs[0])
    level = int(node.attr["compression"])
    if not -1 <= level <= 9:
        raise bad(node, f"compression should be in [-1,9], got {level}")
    if image.ndim != 3:
        raise bad(node, f"image must be 3-dimensional, got shape {list(image.shape)}")
    if not 1 <= image.shape[2] <= 4:
        raise bad(node, f"image must have 1, 2, 3, or 4 channels, got {image.shape[2]}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise bad(node, "PNG encoding failed")
    return np.array(_run_codec(node, png.encode_png, image, level), dtype=object)


# EncodeJpegVariableQuality has no attrs: it encodes with EncodeJpeg's defaults.
_JPEG_DEFAULTS = {"format": "", "progressive": False, "optimize_size": False,
                  "chroma_downsampling": True, "density_unit": "in", "x_density": 300,
                  "y_density": 300, "xmp_metadata": b""}


def _encode_jpeg(node, image, quality: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3:
        raise bad(node, f"image must be 3-dimensional, got shape {list(image.shape)}")
    opt = {k: node.attr.get(k, v) for k, v in _JPEG_DEFAULTS.items()}
    opt = {k: v.decode("utf-8", "replace") if isinstance(v, bytes) and k != "xmp_metadata" else v
           for k, v in opt.items()}
    fmt = opt["format"]
    channels = image.shape[2]
    need = {"": (1, 3), "grayscale": (1,), "rgb": (3,)}.get(fmt)
    if need is None:
        raise bad(node, f"format must be '', grayscale or rgb, got {fmt!r}")
    if channels not in need:
        raise bad(node, f"image must have {' or '.join(map(str, need))} channels for format "
                        f"{fmt!r}, got {channels}")
    if not 0 <= quality <= 100:
        raise bad(node, f"quality must be in [0,100], got {quality}")
    if opt["density_unit"] not in ("in", "cm"):
        raise bad(node, f"density_unit must be 'in' or 'cm', got {opt['density_unit']!r}")
    if image.shape[0] == 0 or image.shape[1] == 0 or image.shape[0] > 65535 or \
            image.shape[1] > 65535:
        raise bad(node, f"JPEG encoding of a {image.shape[1]}x{image.shape[0]} image failed")
    xmp = opt["xmp_metadata"]
    xmp = xmp if isinstance(xmp, bytes) else str(xmp).encode()
    out = _run_codec(node, jpeg.encode_jpeg, image, quality, bool(opt["progressive"]),
                     bool(opt["optimize_size"]), bool(opt["chroma_downsampling"]),
                     opt["density_unit"], int(opt["x_density"]), int(opt["y_density"]), xmp)
    return np.array(out, dtype=object)


@kernel("EncodeJpeg")
def encode_jpeg(node, inputs, ctx):
    return _encode_jpeg(node, inputs[0], int(node.attr["quality"]))


@kernel("EncodeJpegVariableQuality")
def encode_jpeg_variable_quality(node, inputs, ctx):
    q = np.asarray(inputs[1])
    if q.ndim != 0:
        raise bad(node, f"quality must be a scalar, got shape {list(q.shape)}")
    return _encode_jpeg(node, inputs[0], int(q))
