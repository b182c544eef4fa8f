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

from typing import Protocol

from google.protobuf import message as _message
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from savedmodel_io._accel import note_slow
from savedmodel_io.errors import FormatError
from savedmodel_io.formats.varint import VarintError
from savedmodel_io.formats.varint import decode as decode_varint
from savedmodel_io.proto import is_map

__all__ = ["ACCELERATED", "deterministic_buffer", "serialize_deterministic"]

# A message type's plans as the C module takes them: for each plan, its rules
# (field number, 0 sub-message / 1 map, plan index or -1, map key code).
_Rules = tuple[tuple[tuple[int, int, int, int], ...], ...]


class _Compiled(Protocol):
    """What the C accelerator (_deterministic.c, typed in _deterministic.pyi) offers."""

    def sort_maps(self, buf: bytearray, plans: _Rules, root: int) -> None: ...


_compiled: _Compiled | None
try:  # the optional C accelerator, built by setup.py when a compiler exists
    from savedmodel_io.proto import _deterministic as _compiled
except ImportError:  # pragma: no cover - depends on the build
    _compiled = None

#: True when the C accelerator re-sorts map entries (10-100x faster than the Python pass).
ACCELERATED = _compiled is not None

_MASK64 = (1 << 64) - 1


def serialize_deterministic(msg: _message.Message) -> bytes:
    """Serialize ``msg`` exactly as C++ ``SerializeToString`` with deterministic output would."""
    data = deterministic_buffer(msg)
    return data if isinstance(data, bytes) else bytes(data)


def deterministic_buffer(msg: _message.Message, *, accelerated: bool = True) -> bytes | bytearray:
    """Like :func:`serialize_deterministic` but may return a bytearray (saves a copy when hashing)."""
    data: bytes = msg.SerializeToString(deterministic=True)
    plan = _plan_for(msg.DESCRIPTOR)
    if plan is None:
        return data
    buf = bytearray(data)
    del data
    if accelerated and _compiled is not None:
        rules, root = _compiled_plan(msg.DESCRIPTOR)
        try:
            _compiled.sort_maps(buf, rules, root)
        except ValueError as exc:
            raise FormatError(str(exc)) from None
    else:
        if accelerated:  # the fallback in use, not the reference pass a test asked for
            note_slow("deterministic serialisation", len(buf))
        _fix(buf, 0, len(buf), plan)
    return buf


class _Plan:
    """Which fields of one message type lead to maps: field number -> (map key kind, value plan) or sub-plan."""

    __slots__ = ("maps", "subs")

    def __init__(self) -> None:
        self.maps: dict[int, tuple[str, _Plan | None]] = {}
        self.subs: dict[int, _Plan] = {}


_PLANS: dict[Descriptor, _Plan | None] = {}  # keyed by descriptor: pools may share names


_KEY_CODES = {"bytes": 0, "signed": 1, "zigzag": 2, "unsigned": 3, "fixed": 4, "sfixed": 5}
_COMPILED: dict[Descriptor, tuple[_Rules, int]] = {}


def _compiled_plan(desc: Descriptor) -> tuple[_Rules, int]:
    """The plan of ``desc`` flattened for the C module: (plans as tuples of rules, root index)."""
    cached = _COMPILED.get(desc)
    if cached is not None:
        return cached
    root = _plan_for(desc)
    assert root is not None
    ids: dict[int, int] = {}
    order: list[_Plan] = []

    def index(plan: _Plan) -> int:
        if id(plan) not in ids:
            ids[id(plan)] = len(order)
            order.append(plan)
        return ids[id(plan)]

    index(root)
    rules: list[tuple[tuple[int, int, int, int], ...]] = []
    i = 0
    while i < len(order):  # order grows while we walk it
        plan = order[i]
        row = [(n, 0, index(sub), 0) for n, sub in plan.subs.items()]
        for n, (kind, vplan) in plan.maps.items():
            row.append((n, 1, -1 if vplan is None else index(vplan), _KEY_CODES[kind]))
        rules.append(tuple(row))
        i += 1
    result = (tuple(rules), 0)
    _COMPILED[desc] = result
    return result


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
                if is_map(f):
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
    if desc in _PLANS:
        return _PLANS[desc]
    if not _has_maps(desc):
        _PLANS[desc] = None
        return None
    plan = _Plan()
    _PLANS[desc] = plan  # registered before recursing: message types can be recursive
    for f in desc.fields:
        if f.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if is_map(f):
            entry = f.message_type
            key = entry.fields_by_number[1]
            value = entry.fields_by_number[2]
            vplan = (
                _plan_for(value.message_type)
                if value.type == FieldDescriptor.TYPE_MESSAGE
                else None
            )
            plan.maps[f.number] = (_key_kind(key), vplan)
        else:
            sub = _plan_for(f.message_type)
            if sub is not None:
                plan.subs[f.number] = sub
    return plan


def _varint(buf: bytearray, pos: int, end: int) -> tuple[int, int]:
    try:
        return decode_varint(buf, pos, end, wrap=True)
    except VarintError:
        raise FormatError("malformed varint while canonicalizing a serialized message") from None


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
    varint = _varint
    while pos < end:
        # One-byte varints (almost every tag and small length) are read inline: this loop
        # visits every field of every map-bearing message, so a call per varint shows.
        tag = buf[pos]
        if tag < 0x80:
            body = pos + 1
        else:
            tag, body = varint(buf, pos, end)
        wire = tag & 7
        if wire == 2:
            if body < end and buf[body] < 0x80:
                n, start = buf[body], body + 1
            else:
                n, start = varint(buf, body, end)
            stop = start + n
            if stop > end:
                raise FormatError("truncated field while canonicalizing a serialized message")
            number = tag >> 3
            sub = subs.get(number)
            if sub is not None:
                _fix(buf, start, stop, sub)
            elif number in maps:
                stop = _sort_run(buf, pos, end, tag, maps[number])
            pos = stop
        elif wire == 0:
            if body < end and buf[body] < 0x80:
                pos = body + 1
            else:
                pos = varint(buf, body, end)[1]
        else:
            pos = _skip(buf, body, end, wire)


def _sort_run(buf: bytearray, pos: int, end: int, tag: int, spec: tuple[str, _Plan | None]) -> int:
    """Sort the consecutive map entries with ``tag`` that start at ``pos``; returns the run's end."""
    kind, vplan = spec
    varint = _varint
    entries: list[tuple[_Key, int, int]] = []  # (sort key, entry start, entry end)
    run_start = pos
    while pos < end:
        t, body = varint(buf, pos, end)
        if t != tag:
            break
        n, start = varint(buf, body, end)
        stop = start + n
        if stop > end:
            raise FormatError("truncated map entry while canonicalizing a serialized message")
        entries.append((_entry_key(buf, start, stop, kind, vplan), pos, stop))
        pos = stop
    for i in range(len(entries) - 1):
        if entries[i][0] > entries[i + 1][0]:
            ordered = sorted(entries, key=lambda e: e[0])  # stable, like C's tie-break
            buf[run_start:pos] = b"".join(bytes(buf[s:e]) for _, s, e in ordered)
            break
    return pos


_SIGNED = frozenset({"signed", "zigzag", "sfixed"})

# A map entry's sort key: (the key, b"") for integer keys, (0, the key) for string keys. The
# entries of one map all have the same kind, so this orders them as C++ does.
_Key = tuple[int, bytes]


def _entry_key(buf: bytearray, pos: int, end: int, kind: str, vplan: _Plan | None) -> _Key:
    """The C++ sort key of one map entry; fixes maps inside its value on the way."""
    key: _Key = (0, b"")
    while pos < end:
        tag, body = _varint(buf, pos, end)
        wire = tag & 7
        nxt = _skip(buf, body, end, wire)
        number = tag >> 3
        if number == 1:
            key = _decode_key(buf, body, wire, kind, key)
        elif number == 2 and vplan is not None and wire == 2:
            n, start = _varint(buf, body, end)
            _fix(buf, start, start + n, vplan)
        pos = nxt
    return key


def _decode_key(buf: bytearray, pos: int, wire: int, kind: str, current: _Key) -> _Key:
    """A map key from its field value at ``pos`` (already bounds-checked); wrong wire types keep ``current``."""
    if kind == "bytes" or wire == 2:
        if kind != "bytes" or wire != 2:
            return current
        n, start = _varint(buf, pos, len(buf))
        return (0, bytes(buf[start : start + n]))
    if wire == 0:
        v = _varint(buf, pos, len(buf))[0] & _MASK64
        if kind == "zigzag":
            return ((v >> 1) ^ -(v & 1), b"")
        if kind in _SIGNED:
            return (v - (1 << 64) if v >> 63 else v, b"")
        return (v, b"")
    size = 8 if wire == 1 else 4
    v = int.from_bytes(buf[pos : pos + size], "little")
    if kind in _SIGNED and v >> (8 * size - 1):
        v -= 1 << (8 * size)
    return (v, b"")
