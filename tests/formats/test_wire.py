"""formats/wire.py: the field walk that fingerprint.pb's check and the signatures-only read share."""

from __future__ import annotations

import pytest

from savedmodel_io.formats import wire
from savedmodel_io.proto import FingerprintDef


def test_fields_of_a_message_match_what_protobuf_wrote():
    msg = FingerprintDef(saved_model_checksum=2**64 - 1, graph_def_program_hash=5)
    msg.version.producer = 1
    data = msg.SerializeToString()
    found = [(n, w) for n, w, *_ in wire.fields(data, 0, len(data))]
    assert found == [(1, 0), (2, 0), (6, 2)]
    number, _, tag_at, start, end = list(wire.fields(data, 0, len(data)))[-1]
    sub = FingerprintDef().version
    sub.ParseFromString(data[start:end])
    assert (number, sub.producer, data[tag_at]) == (6, 1, 0x32)


def test_fixed_width_values_and_a_window():
    data = b"\x09" + bytes(8) + b"\x15" + bytes(4) + b"\x08\x01"
    assert [f[:2] for f in wire.fields(data, 0, len(data))] == [(1, 1), (2, 5), (1, 0)]
    assert [f[:2] for f in wire.fields(data, 9, 14)] == [(2, 5)]


@pytest.mark.parametrize("data, reason, at", [
    (b"\x08", "truncated or malformed varint", 1),
    (b"\x08" + b"\xff" * 9 + b"\x7f", "truncated or malformed varint", 1),  # > 64 bits
    (b"\x08\x01\x00\x01", "field number 0", 2),
    (b"\x13\x00", "unsupported wire type 3", 0),
    (b"\x4f", "unsupported wire type 7", 0),
    (b"\x32\x10\x08\x04", "field runs past the end of its message", 0),
    (b"\x11\x00", "field runs past the end of its message", 0),
    (b"\x0a\x05abc", "field 1 has wire type 2, expected 0", 0),
])
def test_malformed_fields_name_what_and_where(data, reason, at):
    with pytest.raises(wire.WireError) as info:
        list(wire.fields(data, 0, len(data), expected={1: 0}))
    assert (info.value.reason, info.value.at) == (reason, at)
    assert str(info.value) == f"{reason} at byte {at}"


def test_wrap_keeps_the_low_bits_of_an_overlong_varint():
    data = b"\x08" + b"\xff" * 9 + b"\x7f"  # 70 bits
    [(number, kind, _, start, end)] = wire.fields(data, 0, len(data), wrap=True)
    assert (number, kind, start, end) == (1, 0, 1, len(data))
