"""Slice keys and the table writer raise library errors (they raised bare ValueError)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from savedmodel_io.errors import InvalidArgumentError, SavedModelError
from savedmodel_io.formats import sstable
from savedmodel_io.formats.slices import decode_slice_key, encode_slice_key


@given(st.binary(max_size=40))
def test_decoding_any_bytes_returns_or_raises_a_library_error(data):
    try:
        name, extents = decode_slice_key(data)
    except SavedModelError as exc:
        assert isinstance(exc, InvalidArgumentError) and isinstance(exc, ValueError)
    else:
        assert encode_slice_key(name, extents) == data


@pytest.mark.parametrize("key, why", [
    (b"", "not a slice key"), (b"\x00ab", "terminator"), (b"\x00a\x00\x02", "bad escape"),
    (b"\x00a\x00\x01\x00", "bad slice rank"), (encode_slice_key("a", [(0, 1)]) + b"x", "trailing"),
])
def test_bad_slice_keys_say_why(key, why):
    with pytest.raises(InvalidArgumentError, match=why):
        decode_slice_key(key)


def test_table_builder_refuses_with_library_errors():
    with pytest.raises(InvalidArgumentError, match="compression"):
        sstable.TableBuilder(io.BytesIO(), compression="zip")
    builder = sstable.TableBuilder(io.BytesIO())
    builder.add(b"b", b"1")
    with pytest.raises(InvalidArgumentError, match="strictly increasing"):
        builder.add(b"a", b"2")
    builder.finish()
    with pytest.raises(InvalidArgumentError, match="already finished"):
        builder.add(b"c", b"3")
