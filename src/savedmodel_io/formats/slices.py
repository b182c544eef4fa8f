"""Partitioned tensors: slice specs and extents, and the keys TensorFlow stores slices under.

A slice of tensor ``name`` is stored under ``EncodeTensorNameSlice(name, extents)``, built
with OrderedCode (facts from tensorflow/tensorflow ``tensorflow/core/util/saved_tensor_slice_util.cc``
and ``tensorflow/core/lib/strings/ordered_code.cc``): ``num(0)``, the name with ``00``/``ff``
escaped, ``00 01``, ``num(rank)``, then ``signed(start), signed(length)`` per dimension
(length -1: the whole dimension).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.formats.bundle_format import MAX_RANK, key_bytes

__all__ = [
    "Extent",
    "SliceSpec",
    "Sliced",
    "cached_extents_code",
    "decode_slice_key",
    "encode_slice_key",
    "extent_bounds",
    "extents_overlap",
    "extents_shape",
    "parse_slice_spec",
    "slice_key_owner",
    "slice_key_prefix",
    "spec_text",
]

Extent = tuple[int, int]  # (start, length); length -1 means the whole dimension
SliceSpec = Union[str, Sequence[Union[Extent, None]]]


@dataclass
class Sliced:
    """A partitioned tensor to write: its full shape and (slice spec, array) parts."""

    full_shape: tuple[int, ...]
    parts: list[tuple[SliceSpec, Any]]


def _oc_num(out: bytearray, value: int) -> None:
    # OrderedCode::WriteNumIncreasing: length byte, then big-endian bytes without leading zeros.
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    out.append(len(body))
    out += body


def _oc_signed(out: bytearray, value: int) -> None:
    # OrderedCode::WriteSignedNumIncreasing: n bytes hold [-2**(7n-1), 2**(7n-1)); the top
    # n bits of the n-byte two's complement are flipped to encode the length.
    x = ~value if value < 0 else value
    n = x.bit_length() // 7 + 1
    raw = value & ((1 << (8 * n)) - 1)
    header = ((1 << n) - 1) << (8 * n - n)
    out += (raw ^ header).to_bytes(n, "big")


def _escape_string(s: bytes) -> bytes:
    if b"\x00" not in s and b"\xff" not in s:
        return s
    out = bytearray()
    for b in s:
        if b == 0:
            out += b"\x00\xff"
        elif b == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(b)
    return bytes(out)


def encode_slice_key(name: str, extents: Sequence[Extent]) -> bytes:
    """The index key TF stores one slice of tensor ``name`` under (EncodeTensorNameSlice)."""
    return slice_key_prefix(name) + _extents_code(extents)


def slice_key_prefix(name: str) -> bytes:
    """The part of every slice key of ``name`` before its extents: 0, escaped name, 00 01."""
    out = bytearray()
    _oc_num(out, 0)
    out += _escape_string(key_bytes(name)) + b"\x00\x01"
    return bytes(out)


def _extents_code(extents: Sequence[Extent]) -> bytes:
    """The extents part of a slice key: rank, then (start, length) signed numbers."""
    out = bytearray()
    _oc_num(out, len(extents))
    for start, length in extents:
        _oc_signed(out, start)
        _oc_signed(out, length)
    return bytes(out)


@functools.lru_cache(maxsize=4096)
def cached_extents_code(extents: tuple[Extent, ...]) -> bytes:
    """:func:`_extents_code`, remembered: partitioned tensors mostly share their slicings."""
    return _extents_code(extents)


def slice_key_owner(key: bytes) -> bytes | None:
    """The tensor name (raw bytes) a slice key belongs to, or None if ``key`` is no slice key."""
    end = key.find(b"\x00\x01", 1)
    if key[:1] != b"\x00" or end < 0:
        return None
    name = key[1:end]
    if b"\x00" not in name and b"\xff" not in name:  # nothing escaped: the common case, fast
        return name
    try:
        return key_bytes(decode_slice_key(key)[0])
    except InvalidArgumentError:
        return None


def _read_oc_num(key: bytes, pos: int) -> tuple[int, int]:
    n = key[pos]
    if n > 8 or pos + 1 + n > len(key):
        raise InvalidArgumentError("bad OrderedCode number")
    return int.from_bytes(key[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _read_oc_signed(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise InvalidArgumentError("truncated OrderedCode signed number")
    neg = not key[pos] & 0x80
    bits = int.from_bytes(key[pos : pos + 2].ljust(2, b"\x00"), "big")
    if neg:
        bits ^= 0xFFFF
    n = 0
    while n < 11 and bits & (0x8000 >> n):
        n += 1
    if n == 0 or n > 10 or pos + n > len(key):
        raise InvalidArgumentError("bad OrderedCode signed number")
    raw = int.from_bytes(key[pos : pos + n], "big") ^ (((1 << n) - 1) << (8 * n - n))
    if raw >> (8 * n - 1):
        raw -= 1 << (8 * n)
    return raw, pos + n


def decode_slice_key(key: bytes) -> tuple[str, list[Extent]]:
    """Inverse of :func:`encode_slice_key`; InvalidArgumentError (a ValueError) if ``key`` is not one."""
    if not key or key[0] != 0:
        raise InvalidArgumentError("not a slice key")
    name = bytearray()
    pos = 1
    while True:  # escaped name: 00 ff -> 00, ff 00 -> ff, 00 01 ends it
        if pos + 1 >= len(key):
            raise InvalidArgumentError("slice key without name terminator")
        b, nxt = key[pos], key[pos + 1]
        if b == 0x00 and nxt == 0x01:
            break
        if b == 0x00 and nxt == 0xFF:
            name.append(0)
            pos += 2
        elif b == 0xFF and nxt == 0x00:
            name.append(0xFF)
            pos += 2
        elif b in (0x00, 0xFF):
            raise InvalidArgumentError("bad escape in slice key")
        else:
            name.append(b)
            pos += 1
    end = pos
    pos = end + 2
    rank, pos = _read_oc_num(key, pos)
    if rank == 0 or rank > MAX_RANK:
        raise InvalidArgumentError(f"bad slice rank {rank}")
    extents = []
    for _ in range(rank):
        start, pos = _read_oc_signed(key, pos)
        length, pos = _read_oc_signed(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise InvalidArgumentError("trailing bytes in slice key")
    return bytes(name).decode("utf-8", errors="surrogateescape"), extents


def parse_slice_spec(spec: SliceSpec, full_shape: Sequence[int]) -> list[Extent]:
    """Extents from TF's slice syntax (``"0,2:-"``) or a list of (start, length)/None."""
    if isinstance(spec, str):
        items = [s for s in spec.strip().split(":") if s]
        parsed: list[Extent | None] = []
        for item in items:
            if item == "-":
                parsed.append(None)
                continue
            try:
                a, b = item.split(",")
                parsed.append((int(a), int(b)))
            except ValueError:
                raise InvalidArgumentError(f"bad slice spec {spec!r}: expected 'start,length' or '-'") from None
        spec = parsed
    extents: list[Extent] = []
    if len(spec) != len(full_shape):
        raise InvalidArgumentError(f"slice spec {spec!r} has rank {len(spec)}, tensor has rank {len(full_shape)}")
    for d, (e, dim) in enumerate(zip(spec, full_shape)):
        if e is None or tuple(e) == (0, -1):
            extents.append((0, -1))
            continue
        start, length = int(e[0]), int(e[1])
        if start < 0 or length <= 0 or start + length > dim:
            raise InvalidArgumentError(f"slice extent {e} out of range for dimension {d} of size {dim}")
        extents.append((start, length))
    return extents


def extent_bounds(extents: Sequence[Extent], shape: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(0, dim) if length == -1 else slice(start, start + length) for (start, length), dim in zip(extents, shape))


def extents_shape(extents: Sequence[Extent], shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(dim if length == -1 else length for (_, length), dim in zip(extents, shape))


def extents_overlap(a: Sequence[Extent], b: Sequence[Extent], shape: Sequence[int]) -> bool:
    """Whether two slices of a tensor of ``shape`` share an element."""
    for (sa, la), (sb, lb), dim in zip(a, b, shape):
        ea = dim if la == -1 else sa + la
        eb = dim if lb == -1 else sb + lb
        if la == -1:
            sa = 0
        if lb == -1:
            sb = 0
        if min(ea, eb) <= max(sa, sb):
            return False
    return True


def spec_text(extents: Sequence[Extent]) -> str:
    """Extents in TF's slice syntax (``"0,2:-"``), for messages."""
    return ":".join("-" if length == -1 else f"{start},{length}" for start, length in extents)
