"""Unsigned LEB128 varints (protobuf, LevelDB, Riegeli and Snappy all use the same form).

``decode`` raises ``VarintError`` (a ValueError) for truncated or overlong input;
each format module turns that into its own error naming the file and offset.
"""

from __future__ import annotations

from typing import Union

Buffer = Union[bytes, bytearray, memoryview]

__all__ = ["VarintError", "append", "decode", "encode"]


class VarintError(ValueError):
    """A varint runs past its buffer or over 64 bits."""


def append(out: bytearray, value: int) -> None:
    """Append ``value`` (>= 0) to ``out`` as a varint."""
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def encode(value: int) -> bytes:
    """``value`` (>= 0) as varint bytes."""
    out = bytearray()
    append(out, value)
    return bytes(out)


def decode(
    buf: Buffer, pos: int, end: int, max_bits: int = 64, *, wrap: bool = False
) -> tuple[int, int]:
    """Read a varint at ``buf[pos:end]``; returns (value, position after it).

    ``wrap=True`` keeps the low ``max_bits`` bits of a value that overflows them, as
    protobuf's C++ parser does, instead of raising.
    """
    result = shift = 0
    while True:
        if pos >= end:
            raise VarintError("truncated varint")
        if shift >= max_bits:
            raise VarintError("overlong varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >> max_bits:
                if not wrap:
                    raise VarintError(f"varint over {max_bits} bits")
                result &= (1 << max_bits) - 1
            return result, pos
        shift += 7
