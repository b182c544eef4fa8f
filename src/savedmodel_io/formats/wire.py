"""The fields of a serialized protobuf message, walked without parsing it (the wire format).

Used where the bytes must be checked or sliced before (or instead of) protobuf parsing
them: the signatures-only read of ``saved_model.pb``, the wire check of ``fingerprint.pb``.
Wire types: protocolbuffers/protobuf docs, "Encoding" (0 varint, 1 fixed64,
2 length-delimited, 5 fixed32; the group types 3 and 4 are not supported here).
``fields`` raises ``WireError`` (a ValueError, with the byte offset); each caller turns it
into its own error naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from savedmodel_io.formats.varint import Buffer, VarintError
from savedmodel_io.formats.varint import decode as decode_varint

__all__ = ["WireError", "fields"]

# Bytes taken by the value of each fixed-size wire type.
_FIXED = {1: 8, 5: 4}


class WireError(ValueError):
    """A malformed field: what is wrong (``reason``) and the byte offset (``at``) where."""

    def __init__(self, reason: str, at: int) -> None:
        super().__init__(f"{reason} at byte {at}")
        self.reason = reason
        self.at = at


def _varint(buf: Buffer, pos: int, end: int, wrap: bool) -> tuple[int, int]:
    try:
        return decode_varint(buf, pos, end, wrap=wrap)
    except VarintError:
        raise WireError("truncated or malformed varint", pos) from None


def fields(buf: Buffer, start: int, end: int, *, wrap: bool = False,
           expected: Mapping[int, int] | None = None
           ) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, tag offset, value start, value end) of each field of
    ``buf[start:end]``, in order.

    ``wrap``: varints over 64 bits keep their low bits (as protobuf's C++ parser does)
    instead of raising. ``expected``: field number -> the wire type it must have.
    """
    pos = start
    while pos < end:
        tag_at = pos
        tag, pos = _varint(buf, pos, end, wrap)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0", tag_at)
        want = expected.get(number) if expected is not None else None
        if want is not None and wire != want:
            raise WireError(f"field {number} has wire type {wire}, expected {want}", tag_at)
        if wire == 0:
            nxt = _varint(buf, pos, end, wrap)[1]
        elif wire == 2:
            n, pos = _varint(buf, pos, end, wrap)
            nxt = pos + n
        elif wire in _FIXED:
            nxt = pos + _FIXED[wire]
        else:
            raise WireError(f"unsupported wire type {wire}", tag_at)
        if nxt > end:
            raise WireError("field runs past the end of its message", tag_at)
        yield number, wire, tag_at, pos, nxt
        pos = nxt
