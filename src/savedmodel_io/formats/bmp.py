"""BMP: decode uncompressed 8/24/32-bit bitmaps as TensorFlow's DecodeBmp does.

TensorFlow reads only the fields it needs (tensorflow/tensorflow
tensorflow/core/kernels/image/decode_image_op.cc, DecodeBmpV2): the pixel-data offset
(byte 10), width (18), height (22, negative for top-down rows) and bits per pixel (28);
the file must be exactly that offset plus the padded rows. Pixels are BGR(A) (8-bit
files give their raw byte, no palette lookup); missing channels are the grey value
repeated and alpha 255.
"""

from __future__ import annotations

import struct

import numpy as np

from savedmodel_io.errors import CorruptFileError, LimitExceededError

__all__ = ["decode_bmp"]


def _error(message: str) -> CorruptFileError:
    return CorruptFileError(f"invalid BMP: {message}")


def decode_bmp(data: bytes, channels: int = 0) -> np.ndarray:
    """(height, width, channels) uint8 as tf.io.decode_bmp returns it."""
    if len(data) < 32:
        raise _error(f"requires at least 32 bytes to find the header, got {len(data)}")
    (offset,) = struct.unpack_from("<i", data, 10)
    width, height = struct.unpack_from("<ii", data, 18)
    (bpp,) = struct.unpack_from("<h", data, 28)
    src = bpp // 8 if bpp >= 0 else -((-bpp) // 8)
    if src not in (1, 3, 4):
        raise _error(f"number of channels inherent in the image must be 1, 3 or 4, was {src}")
    out_ch = channels or src
    if width <= 0:
        raise _error("width must be positive")
    if height == 0:
        raise _error("height must be nonzero")
    if offset < 0:
        raise _error("header size must be nonnegative")
    rows = abs(height)
    if width * rows >= (2**31 - 1) // 8:
        raise LimitExceededError(f"BMP of {width}x{rows} pixels: total pixel bytes must be "
                                 f"less than 2^30")
    row_size = (src * width + 3) // 4 * 4
    if len(data) - offset - row_size * rows != 0:
        raise _error(f"input size should match (header_size + row_size * abs_height) but they "
                     f"differ by {len(data) - offset - row_size * rows}")
    padded = np.frombuffer(data, np.uint8, row_size * rows, offset).reshape(rows, row_size)
    px = padded[:, :width * src].reshape(rows, width, src)
    if height > 0:
        px = px[::-1]  # bottom-up rows
    if src == 1:
        grey = px[..., :1]
        parts = [grey] if out_ch == 1 else [grey, grey, grey]
    else:
        parts = [px[..., 2:3], px[..., 1:2], px[..., 0:1]]
    if out_ch == 4:
        parts.append(px[..., 3:4] if src == 4 else np.full((rows, width, 1), 255, np.uint8))
    return np.ascontiguousarray(np.concatenate(parts, axis=-1))
