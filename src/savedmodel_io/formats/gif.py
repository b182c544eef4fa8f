"""GIF: decode every frame to RGB as TensorFlow's DecodeGif does.

The file format is GIF89a's (blocks, colour tables, LZW with variable code sizes,
interlaced rows). How frames become images is TensorFlow's
(tensorflow/tensorflow tensorflow/core/lib/gif/gif_io.cc, on giflib's DGifSlurp): the
canvas is as large as the largest frame, each frame starts as a copy of the previous
one (the first as black) and is painted where it lies, pixels of the frame's
transparent colour (its first graphic control extension) keep what is below, and a
colour index outside the colour table is an error. Disposal methods are not applied,
as TensorFlow does not apply them.

Sizes are bounded before anything is allocated, and the LZW stream must supply exactly
the pixels a frame declares.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from savedmodel_io.errors import CorruptFileError, LimitExceededError

__all__ = ["decode_gif", "MAX_BYTES"]

MAX_BYTES = 1 << 32  # largest decoded result (frames x height x width x 3)
_INTERLACE = ((0, 8), (4, 8), (2, 4), (1, 2))  # (first row, step) of the four passes


def _error(message: str) -> CorruptFileError:
    return CorruptFileError(f"invalid GIF: {message}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _error("the file ends inside a block")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def sub_blocks(self) -> bytes:
        """The data of a run of sub-blocks, up to its empty terminator."""
        parts: list[bytes] = []
        while True:
            n = self.byte()
            if n == 0:
                return b"".join(parts)
            parts.append(self.take(n))


def _colour_table(r: _Reader, packed: int) -> np.ndarray | None:
    if not packed & 0x80:
        return None
    n = 2 << (packed & 7)
    return np.frombuffer(r.take(3 * n), np.uint8).reshape(n, 3)


def _lzw(data: bytes, min_size: int, count: int) -> bytes:
    """The first ``count`` indices of an LZW stream (GIF variant: LSB-first codes, 12 bits max)."""
    if not 1 <= min_size <= 11:
        raise _error(f"bad LZW minimum code size {min_size}")
    clear = 1 << min_size
    end = clear + 1
    out = bytearray()
    table: list[bytes] = [bytes([i]) for i in range(clear)] + [b"", b""]
    size = min_size + 1
    prev: bytes | None = None
    acc = nbits = 0
    pos = 0
    n = len(data)
    while len(out) < count:
        while nbits < size:
            if pos >= n:
                raise _error("the image data ends before the image is complete")
            acc |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = acc & ((1 << size) - 1)
        acc >>= size
        nbits -= size
        if code == clear:
            del table[end + 1:]
            size = min_size + 1
            prev = None
            continue
        if code == end:
            raise _error("the image data ends before the image is complete")
        if code < len(table):
            entry = table[code]
            if prev is not None and len(table) < 4096:
                table.append(prev + entry[:1])
        elif code == len(table) and prev is not None:
            entry = prev + prev[:1]
            if len(table) < 4096:
                table.append(entry)
        else:
            raise _error(f"LZW code {code} is not defined yet")
        out += entry
        prev = entry
        if len(table) == 1 << size and size < 12:
            size += 1
    return bytes(out[:count])


class _Frame:
    """One image block: its place on the canvas, its colour table and colour indices."""

    __slots__ = ("left", "top", "width", "height", "colours", "indices", "transparent")
    left: int
    top: int
    width: int
    height: int
    colours: np.ndarray
    indices: np.ndarray
    transparent: int

    def __init__(self) -> None:
        self.transparent = -1


def _frames(data: bytes, max_bytes: int, charge: Callable[[int], None] | None) -> list[_Frame]:
    r = _Reader(data)
    if not data.startswith(b"GIF") or len(data) < 13:
        raise _error("no GIF signature")
    r.take(6)
    _, _, packed, _, _ = struct.unpack("<HHBBB", r.take(7))
    global_colours = _colour_table(r, packed)
    frames: list[_Frame] = []
    gce: bytes | None = None  # the first graphic control extension before the next image
    while True:
        if r.pos >= len(data):
            if frames:
                break  # no trailer: TensorFlow keeps the frames read so far
            raise _error("no image")
        kind = r.byte()
        if kind == 0x3B:
            break
        if kind == 0x21:
            label = r.byte()
            if label != 0xF9:
                r.sub_blocks()
                continue
            first = r.byte()
            block = r.take(first)
            rest = r.sub_blocks()
            if gce is None:
                gce = bytes([first]) + block + rest
            continue
        if kind != 0x2C:
            raise _error(f"unknown block type 0x{kind:02x}")
        f = _Frame()
        f.left, f.top, f.width, f.height, ipacked = struct.unpack("<HHHHB", r.take(9))
        colours = _colour_table(r, ipacked)
        if colours is None:
            colours = global_colours
        if colours is None:
            raise _error(f"missing color map for frame {len(frames)}")
        f.colours = colours
        if gce is not None and gce[0] == 4 and len(gce) >= 5 and gce[1] & 1:
            f.transparent = gce[4]
        gce = None
        if f.width == 0 or f.height == 0:
            raise _error("a frame has no pixels")
        # Bound the decoded size before inflating this frame's LZW data.
        h = max([f.height] + [g.height for g in frames])
        w = max([f.width] + [g.width for g in frames])
        total = (len(frames) + 1) * h * w * 3
        if total > max_bytes:
            raise LimitExceededError(f"GIF frames of up to {w}x{h} pixels would decode to more "
                                     f"than {max_bytes} bytes")
        pixels = f.width * f.height
        if charge is not None:
            charge(pixels)  # LZW runs in Python, one step per code: the caller's budget pays
        min_size = r.byte()
        raw = _lzw(r.sub_blocks(), min_size, pixels)
        idx = np.frombuffer(raw, np.uint8).reshape(f.height, f.width)
        if ipacked & 0x40:  # interlaced: rows stored pass by pass
            order = np.concatenate([np.arange(a, f.height, s) for a, s in _INTERLACE])
            unl = np.empty_like(idx)
            unl[order] = idx
            idx = unl
        f.indices = idx
        frames.append(f)
    return frames


def decode_gif(data: bytes, expand_animations: bool = True, max_bytes: int = MAX_BYTES,
               charge: Callable[[int], None] | None = None) -> np.ndarray:
    """(frames, height, width, 3) uint8 as tf.io.decode_gif returns it (one frame without
    ``expand_animations``); ``charge(pixels)`` is called before each frame is decoded."""
    frames = _frames(data, max_bytes, charge)
    if not frames:  # tensorflow/core/lib/gif/gif_io.cc: ImageCount <= 0 is an error
        raise _error("gif file does not contain any image")
    h = max(f.height for f in frames)
    w = max(f.width for f in frames)
    n = len(frames) if expand_animations else 1
    out = np.zeros((n, h, w, 3), np.uint8)
    for k in range(n):
        f = frames[k]
        if k:
            out[k] = out[k - 1]
        y0, x0 = min(f.top, h), min(f.left, w)
        y1, x1 = min(f.top + f.height, h), min(f.left + f.width, w)
        idx = f.indices[:y1 - y0, :x1 - x0]
        bad = (idx >= len(f.colours)) & (idx != f.transparent)
        if bad.any():
            i = int(idx[bad][0])
            raise _error(f"found color index {i} outside of color map range {len(f.colours)}")
        keep = idx == f.transparent
        colours = f.colours[np.minimum(idx, len(f.colours) - 1)]
        region = out[k, y0:y1, x0:x1]
        np.copyto(region, colours, where=~keep[..., None])
    return out
