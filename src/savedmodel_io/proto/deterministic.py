"""Deterministic serialization byte-equal to C++ protobuf's, for hashes that TensorFlow computes in C++.

TensorFlow fingerprints messages serialized by C++ with
``SetSerializationDeterministic(true)``. Python's ``SerializeToString(deterministic=True)``
writes the same fields in the same order but sorts map entries differently
(protobuf 7 / upb puts integer keys in descending order and ``"aa"`` before
``"a"``). C++ sorts map entries by key: numerically for integer keys (signed or
unsigned as declared), ``false`` before ``true``, and bytewise-lexicographically
for string keys (protobuf ``src/google/protobuf/map.h`` / ``MapSorterFlat``,
``MapSorterPtr``; observed against TensorFlow 2.21's C++).

So we take upb's deterministic bytes and reorder each run of map entries in
place. Sorting only permutes entries, so no enclosing length changes; the pass
only descends into sub-messages whose type can contain a map, and copies the
rest (tensor contents, most of a graph) untouched.
"""

from __future__ import annotations

from google.protobuf import message as _message
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from savedmodel_io.errors import FormatError

__all__ = ["serialize_deterministic"]

_MASK64 = (1 << 64) - 1


def serialize_deterministic(msg: _message.Message) -> bytes:
    """Serialize ``msg`` exactly as C++ ``SerializeToString`` with deterministic output would."""
    data = msg.SerializeToString(deterministic=True)
    plan = _plan_for(msg.DESCRIPTOR)
    if plan is None:
        return data
    buf = bytearray(data)
    _fix(buf, 0, len(buf), plan)
    return bytes(buf)


class _Plan:
    """Which fields of one message type lead to maps: field number -> (map key kind, value plan) or sub-plan."""

    __slots__ = ("maps", "subs")

    def __init__(self) -> None:
        self.maps: dict[int, tuple[str, _Plan | None]] = {}
        self.subs: dict[int, _Plan] = {}


_PLANS: dict[str, _Plan | None] = {}


def _is_map(field: FieldDescriptor) -> bool:
    mt = field.message_type
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and mt is not None
        and mt.GetOptions().map_entry
        and _is_repeated(field)
    )


def _is_repeated(field: FieldDescriptor) -> bool:
    rep = getattr(field, "is_repeated", None)  # protobuf >= 5.29
    if rep is not None:
        return bool(rep)
    return field.label == FieldDescriptor.LABEL_REPEATED


def _has_maps(desc: Descriptor) -> bool:
    """Whether messages of type ``desc`` can contain a map field anywhere inside."""
    seen: set[str] = set()
    stack = [desc]
    while stack:
        d = stack.pop()
        if d.full_name in seen:
            continue
        seen.add(d.full_name)
        for f in d.fields:
            if f.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
                if _is_map(f):
                    return True
                stack.append(f.message_type)
    return False


def _key_kind(field: FieldDescriptor) -> str:
    t = field.type
    if t in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return "bytes"
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        return "signed"
    if t in (FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64):
        return "zigzag"
    if t in (FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64):
        return "fixed"
    if t in (FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64):
        return "sfixed"
    return "unsigned"  # uint32, uint64, bool


def _plan_for(desc: Descriptor) -> _Plan | None:
    """The (cached) rewrite plan of a message type, None when it can hold no map."""
    name = desc.full_name
    if name in _PLANS:
        return _PLANS[name]
    if not _has_maps(desc):
        _PLANS[name] = None
        return None
    plan = _Plan()
    _PLANS[name] = plan  # registered before recursing: message types can be recursive
    for f in desc.fields:
        if f.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if _is_map(f):
            entry = f.message_type
            key = entry.fields_by_number[1]
            value = entry.fields_by_number[2]
            vplan = _plan_for(value.message_type) if value.type == FieldDescriptor.TYPE_MESSAGE else None
            plan.maps[f.number] = (_key_kind(key), vplan)
        else:
            sub = _plan_for(f.message_type)
            if sub is not None:
                plan.subs[f.number] = sub
    return plan


def _varint(buf: bytearray, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise FormatError("malformed varint while canonicalizing a serialized message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _skip(buf: bytearray, pos: int, end: int, wire: int) -> int:
    """Position after a field value of wire type ``wire`` starting at ``pos``."""
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    elif wire == 2:
        n, pos = _varint(buf, pos, end)
        pos += n
    else:
        raise FormatError(f"unsupported wire type {wire} while canonicalizing a serialized message")
    if pos > end:
        raise FormatError("truncated field while canonicalizing a serialized message")
    return pos


def _fix(buf: bytearray, pos: int, end: int, plan: _Plan) -> None:
    """Sort map entries (recursively) inside the message bytes ``buf[pos:end]``."""
    maps = plan.maps
    subs = plan.subs
    while pos < end:
        tag, body = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire != 2 or (number not in maps and number not in subs):
            pos = _skip(buf, body, end, wire)
            continue
        n, start = _varint(buf, body, end)
        stop = start + n
        if stop > end:
            raise FormatError("truncated field while canonicalizing a serialized message")
        if number in subs:
            _fix(buf, start, stop, subs[number])
            pos = stop
            continue
        pos = _sort_run(buf, pos, end, tag, maps[number])


def _sort_run(buf: bytearray, pos: int, end: int, tag: int, spec: tuple[str, _Plan | None]) -> int:
    """Sort the consecutive map entries with ``tag`` that start at ``pos``; returns the run's end."""
    kind, vplan = spec
    entries: list[tuple[object, int, int]] = []  # (sort key, entry start, entry end)
    run_start = pos
    while pos < end:
        t, body = _varint(buf, pos, end)
        if t != tag:
            break
        n, start = _varint(buf, body, end)
        stop = start + n
        if stop > end:
            raise FormatError("truncated map entry while canonicalizing a serialized message")
        entries.append((_entry_key(buf, start, stop, kind, vplan), pos, stop))
        pos = stop
    keys = [e[0] for e in entries]
    if any(keys[i] > keys[i + 1] for i in range(len(keys) - 1)):  # type: ignore[operator]
        ordered = sorted(entries, key=lambda e: e[0])
        chunk = b"".join(bytes(buf[s:e]) for _, s, e in ordered)
        buf[run_start:pos] = chunk
    return pos


def _entry_key(buf: bytearray, pos: int, end: int, kind: str, vplan: _Plan | None) -> object:
    """The C++ sort key of one map entry; fixes maps inside its value on the way."""
    key: object = b"" if kind == "bytes" else 0
    while pos < end:
        tag, body = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        nxt = _skip(buf, body, end, wire)
        if number == 1:
            key = _decode_key(buf, body, nxt, wire, kind)
        elif number == 2 and vplan is not None and wire == 2:
            n, start = _varint(buf, body, end)
            _fix(buf, start, start + n, vplan)
        pos = nxt
    return key


def _decode_key(buf: bytearray, pos: int, end: int, wire: int, kind: str) -> object:
    if wire == 2:
        n, start = _varint(buf, pos, end)
        return bytes(buf[start : start + n])
    if wire == 0:
        v = _varint(buf, pos, end)[0] & _MASK64
        if kind == "signed":
            return v - (1 << 64) if v >> 63 else v
        if kind == "zigzag":
            return (v >> 1) ^ -(v & 1)
        return v
    size = 8 if wire == 1 else 4
    v = int.from_bytes(buf[pos : pos + size], "little")
    if kind == "sfixed" and v >> (8 * size - 1):
        v -= 1 << (8 * size)
    return v
