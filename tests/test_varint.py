"""The shared varint codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from savedmodel_io.formats import varint


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_round_trip(v):
    data = varint.encode(v)
    assert varint.decode(data, 0, len(data)) == (v, len(data))


def test_known_bytes():
    assert varint.encode(0) == b"\x00"
    assert varint.encode(300) == b"\xac\x02"
    assert varint.decode(b"xx\xac\x02yy", 2, 6) == (300, 4)


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff" * 10 + b"\x01", b"\xff" * 9 + b"\x7f"])
def test_bad(data):
    with pytest.raises(varint.VarintError):
        varint.decode(data, 0, len(data))


def test_max_bits():
    data = varint.encode(2**35)
    with pytest.raises(varint.VarintError):
        varint.decode(data, 0, len(data), max_bits=32)


def test_wrap_keeps_low_bits_like_protobuf_cpp():
    data = b"\xff" * 9 + b"\x7f"
    assert varint.decode(data, 0, len(data), wrap=True) == (2**64 - 1, 10)
