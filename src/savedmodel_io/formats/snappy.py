"""Raw Snappy block format: a small decoder (and a simple greedy encoder) in pure Python.

LevelDB tables may hold Snappy-compressed blocks; TensorFlow's bundle writer stores
them uncompressed, so this only has to be correct and safe, not fast.
Format facts: google/snappy ``format_description.txt`` (varint preamble with the
uncompressed length; literal tags 0b00, copies with 1-, 2- and 4-byte offsets).
"""

from __future__ import annotations

from savedmodel_io.formats.varint import VarintError
from savedmodel_io.formats.varint import append as _put_varint
from savedmodel_io.formats.varint import decode as _varint_decode
from savedmodel_io.errors import CorruptFileError, LimitExceededError

__all__ = ["decompress", "compress", "uncompressed_length"]

# A copy element yields at most 64 bytes from 2 bytes of input, so no valid stream
# expands more than 32x; anything declaring more is rejected before allocating.
_MAX_RATIO = 32


def _varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    try:
        return _varint_decode(data, pos, len(data), max_bits=32)
    except VarintError as exc:
        raise CorruptFileError(f"snappy: {exc} in {where}") from None


def uncompressed_length(data: bytes) -> int:
    """Declared uncompressed size of a raw Snappy block."""
    n, _ = _varint(data, 0, "preamble")
    return n


def decompress(data: bytes | memoryview, *, max_size: int | None = None) -> bytes:
    """Decode one raw Snappy block; CorruptFileError on any inconsistency.

    ``max_size`` bounds the declared uncompressed size (LimitExceededError beyond it),
    checked before anything is decoded.
    """
    src = bytes(data)
    n, pos = _varint(src, 0, "preamble")
    if n > _MAX_RATIO * len(src) + 64:
        raise CorruptFileError(
            f"snappy: declared uncompressed size {n} is impossible for {len(src)} input bytes"
        )
    if max_size is not None and n > max_size:
        raise LimitExceededError(
            f"snappy: declared uncompressed size {n} is over the limit of {max_size} bytes"
        )
    out = bytearray()
    end = len(src)
    while pos < end:
        tag = src[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = (tag >> 2) + 1
            if length > 60:
                extra = length - 60
                if pos + extra > end:
                    raise CorruptFileError("snappy: truncated literal length")
                length = int.from_bytes(src[pos : pos + extra], "little") + 1
                pos += extra
            if pos + length > end:
                raise CorruptFileError("snappy: literal runs past the end of the input")
            out += src[pos : pos + length]
            pos += length
        else:
            if kind == 1:
                if pos + 1 > end:
                    raise CorruptFileError("snappy: truncated copy")
                length = ((tag >> 2) & 7) + 4
                offset = ((tag >> 5) << 8) | src[pos]
                pos += 1
            elif kind == 2:
                if pos + 2 > end:
                    raise CorruptFileError("snappy: truncated copy")
                length = (tag >> 2) + 1
                offset = src[pos] | (src[pos + 1] << 8)
                pos += 2
            else:
                if pos + 4 > end:
                    raise CorruptFileError("snappy: truncated copy")
                length = (tag >> 2) + 1
                offset = int.from_bytes(src[pos : pos + 4], "little")
                pos += 4
            have = len(out)
            if offset == 0 or offset > have:
                raise CorruptFileError(f"snappy: copy offset {offset} outside the {have} bytes so far")
            start = have - offset
            if offset >= length:
                out += out[start : start + length]
            else:  # overlapping copy repeats the last `offset` bytes
                pattern = bytes(out[start:])
                reps, rest = divmod(length, offset)
                out += pattern * reps + pattern[:rest]
        if len(out) > n:
            raise CorruptFileError(f"snappy: output exceeds the declared {n} bytes")
    if len(out) != n:
        raise CorruptFileError(f"snappy: decoded {len(out)} bytes, header declared {n}")
    return bytes(out)


def _literal(out: bytearray, data: bytes, start: int, stop: int) -> None:
    while start < stop:
        chunk = min(stop - start, 1 << 16)
        n = chunk - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes((60 << 2, n))
        else:
            out += bytes((61 << 2, n & 0xFF, n >> 8))
        out += data[start : start + chunk]
        start += chunk


def _copy(out: bytearray, offset: int, length: int) -> None:
    while length > 0:
        chunk = min(length, 64)
        if length - chunk and length - chunk < 4:
            chunk = length - 4  # never leave a tail shorter than a 1-byte-offset copy can take
        if 4 <= chunk <= 11 and offset < 2048:
            out += bytes((1 | ((chunk - 4) << 2) | ((offset >> 8) << 5), offset & 0xFF))
        else:
            out += bytes((2 | ((chunk - 1) << 2), offset & 0xFF, offset >> 8))
        length -= chunk


def compress(data: bytes | memoryview) -> bytes:
    """Greedy Snappy encoder (4-byte hash matches, offsets below 64 KiB); valid, not tuned."""
    src = bytes(data)
    out = bytearray()
    _put_varint(out, len(src))
    table: dict[bytes, int] = {}
    pos = lit = 0
    end = len(src)
    while pos + 4 <= end:
        key = src[pos : pos + 4]
        cand = table.get(key)
        table[key] = pos
        if cand is not None and pos - cand < 65536:
            length = 4
            while pos + length < end and src[cand + length] == src[pos + length]:
                length += 1
            _literal(out, src, lit, pos)
            _copy(out, pos - cand, length)
            pos += length
            lit = pos
        else:
            pos += 1
    _literal(out, src, lit, end)
    return bytes(out)
