"""LevelDB table reader/writer: round trips, TensorFlow-made bytes, corruption, fuzzing."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from savedmodel_io.errors import ChecksumError, CorruptFileError, NotFoundError, SavedModelError
from savedmodel_io.formats import snappy, sstable

# variables.index written by tf.raw_ops.SaveV2 (TF 2.21) for a float32[3] "a" = [1, 2, 3].
TF_INDEX_A = bytes.fromhex(
    "00000608011a02080100010f610801120412020803280c35735b897100000000"
    "010000000016a2ac3f000000000100000000c0f2a1b000010262002400000000"
    "01000000005a996b352908360e00000000000000000000000000000000000000"
    "000000000000000000000000000000000057fb808b247547db"
)


def _items(n: int, value_size: int = 10) -> list[tuple[bytes, bytes]]:
    return [(f"key/{i:06d}".encode(), os.urandom(value_size)) for i in range(n)]


def test_tensorflow_index_round_trip():
    table = sstable.Table(TF_INDEX_A)
    keys = [k for k, _ in table]
    assert keys == [b"", b"a"]
    assert sstable.build_table(table.entries()) == TF_INDEX_A
    assert table.get(b"a") is not None and table.get(b"zz") is None


@pytest.mark.parametrize("block_size,restart", [(64, 1), (256, 4), (4096, 16), (262144, 16)])
def test_round_trip_many_blocks(block_size, restart):
    items = _items(500)
    data = sstable.build_table(items, block_size=block_size, restart_interval=restart)
    table = sstable.Table(data)
    assert table.entries() == items
    if block_size <= 256:
        assert len(table._block_handles) > 10


def test_empty_table_and_empty_key():
    assert sstable.Table(sstable.build_table([])).entries() == []
    items = [(b"", b"header"), (b"\x00", b""), (b"\xff\xff", b"x" * 1000)]
    assert sstable.Table(sstable.build_table(items, block_size=16)).entries() == items


def test_large_value_forces_flush():
    items = [(b"a", b"1"), (b"b", b"x" * 600), (b"c", b"2")]
    data = sstable.build_table(items, block_size=256)
    table = sstable.Table(data)
    assert table.entries() == items
    assert len(table._block_handles) == 3


def test_separator_and_successor():
    assert sstable._shortest_separator(b"the quick brown fox", b"the who") == b"the r"
    assert sstable._shortest_separator(b"abc", b"abcd") == b"abc"
    assert sstable._shortest_separator(b"ab", b"ac") == b"ab"
    assert sstable._short_successor(b"\xff\xffa") == b"\xff\xffb"
    assert sstable._short_successor(b"\xff\xff") == b"\xff\xff"


def test_snappy_blocks_are_read():
    items = [(f"k{i:04d}".encode(), b"v" * 50) for i in range(300)]
    data = sstable.build_table(items, compression="snappy", block_size=1024)
    table = sstable.Table(data)
    assert table.entries() == items
    offset, size = table._block_handles[0]
    assert data[offset + size] == sstable.SNAPPY_COMPRESSION
    assert len(data) < len(sstable.build_table(items, block_size=1024)) // 3


def test_snappy_block_from_reference_compressor(monkeypatch):
    cramjam = pytest.importorskip("cramjam")
    items = [(b"k%03d" % i, b"abcabc" * 20) for i in range(50)]
    monkeypatch.setattr(sstable.snappy, "compress", lambda raw: bytes(cramjam.snappy.compress_raw(raw)))
    data = sstable.build_table(items, compression="snappy")
    monkeypatch.undo()
    table = sstable.Table(data)
    offset, size = table._block_handles[0]
    assert data[offset + size] == sstable.SNAPPY_COMPRESSION
    assert table.entries() == items


def test_snappy_codec_against_reference():
    cramjam = pytest.importorskip("cramjam")
    for data in (b"", b"a", b"abc" * 1000, os.urandom(5000), b"x" * 70000 + os.urandom(300)):
        assert snappy.decompress(bytes(cramjam.snappy.compress_raw(data))) == data
        assert bytes(cramjam.snappy.decompress_raw(snappy.compress(data))) == data


def test_snappy_hand_made_elements():
    # literal "abcd", copy-1 (offset 4, len 4), copy-2 (offset 2, len 6), copy-4 (offset 1, len 3)
    stream = bytes([17, 3 << 2]) + b"abcd" + bytes([1, 4]) + bytes([2 | (5 << 2), 2, 0])
    stream += bytes([3 | (2 << 2), 1, 0, 0, 0])
    assert snappy.decompress(stream) == b"abcd" + b"abcd" + b"cdcdcd" + b"ddd"


@pytest.mark.parametrize(
    "stream",
    [
        b"\x05\x00a",  # declares 5, yields 1
        b"\x02\x04ab\x05\x09",  # copy with offset beyond output
        b"\x10" + bytes([1, 0]),  # copy before any output
        b"\xff\xff\xff\xff\xff\xff",  # runaway varint
        b"\xff\xff\xff\x7f\x00",  # absurd declared length
        b"\x03\xf0",  # truncated long literal length
    ],
)
def test_snappy_rejects(stream):
    with pytest.raises(CorruptFileError):
        snappy.decompress(stream)


def test_bad_magic():
    data = bytearray(TF_INDEX_A)
    data[-1] ^= 1
    with pytest.raises(CorruptFileError, match="bad magic"):
        sstable.Table(bytes(data), path="x.index")


def test_truncated():
    for n in (0, 10, 47, len(TF_INDEX_A) - 1):
        with pytest.raises(CorruptFileError):
            sstable.Table(TF_INDEX_A[:n]).entries()


def test_block_checksum_mismatch_and_skip():
    data = bytearray(TF_INDEX_A)
    data[12] ^= 0x01  # inside the data block: entry bytes of "a"
    table = sstable.Table(bytes(data))
    with pytest.raises(ChecksumError, match="checksum"):
        table.entries()
    # Without verification the corrupt value is handed through.
    assert len(sstable.Table(bytes(data), verify_checksums=False).entries()) == 2


def test_missing_file(tmp_path):
    with pytest.raises(NotFoundError):
        sstable.Table.open(tmp_path / "nope.index")


def test_writer_rejects_unsorted():
    import io

    b = sstable.TableBuilder(io.BytesIO())
    b.add(b"b", b"")
    with pytest.raises(ValueError):
        b.add(b"a", b"")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.integers(0, 10_000))
def test_fuzz_bytes(data, seed):
    for candidate in (data, data + TF_INDEX_A[-48:]):
        for verify in (True, False):
            try:
                sstable.Table(candidate, verify_checksums=verify).entries()
            except SavedModelError:
                pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(TF_INDEX_A) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzz_mutations(edits):
    data = bytearray(sstable.build_table(_items(40), block_size=128))
    for pos, val in edits:
        data[pos % len(data)] = val
    for verify in (True, False):
        try:
            sstable.Table(bytes(data), verify_checksums=verify).entries()
        except SavedModelError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_snappy(data):
    try:
        snappy.decompress(data)
    except CorruptFileError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=30), st.binary(max_size=60)), max_size=60), st.integers(16, 600), st.integers(1, 20))
def test_fuzz_round_trip(items, block_size, restart):
    items = sorted(dict(items).items())
    data = sstable.build_table(items, block_size=block_size, restart_interval=restart)
    assert sstable.Table(data).entries() == items


def test_snappy_declared_size_over_max_size_is_a_limit_error():
    """A truthful header (under the 32x ratio) over the caller's bound: refused before decoding."""
    from hostile.bombs import snappy_zeros

    from savedmodel_io.errors import LimitExceededError

    stream = snappy_zeros(1 << 20)
    assert snappy.decompress(stream) == bytes(1 << 20)
    with pytest.raises(LimitExceededError, match="over the limit of 1000"):
        snappy.decompress(stream, max_size=1000)


def test_compressed_block_has_an_absolute_limit(tmp_path, monkeypatch):
    """Snappy's ratio cap lets a 47 MB index ask for 1.5 GB: blocks stop at MAX_BLOCK_BYTES."""
    from hostile.bombs import snappy_zeros, table_with_block

    from savedmodel_io.errors import LimitExceededError

    assert sstable.MAX_BLOCK_BYTES == 1 << 24  # the number SECURITY.md states
    block = sstable._BlockBuilder(16)
    block.add(b"k", bytes(100_000))
    p = tmp_path / "variables.index"
    p.write_bytes(table_with_block(snappy.compress(block.finish())))
    assert sstable.Table.open(p, verify_checksums=False).get(b"k") == bytes(100_000)
    monkeypatch.setattr(sstable, "MAX_BLOCK_BYTES", 50_000)
    with pytest.raises(LimitExceededError, match="MAX_BLOCK_BYTES") as info:
        sstable.Table.open(p, verify_checksums=False).entries()
    assert info.value.path == str(p) and "data block 0" in str(info.value)
    p.write_bytes(table_with_block(snappy_zeros(60_000)))  # checked before decoding anything
    with pytest.raises(LimitExceededError, match="declared uncompressed size 60000"):
        sstable.Table.open(p, verify_checksums=False).entries()


def test_all_blocks_together_have_a_limit(monkeypatch):
    """Many blocks each under the block limit still stop at MAX_TABLE_BYTES decoded in all."""
    from savedmodel_io.errors import LimitExceededError

    data = sstable.build_table(_items(400, 100), block_size=1024, compression="snappy")
    assert len(sstable.Table(data).entries()) == 400
    monkeypatch.setattr(sstable, "MAX_TABLE_BYTES", 10_000)
    with pytest.raises(LimitExceededError, match="MAX_TABLE_BYTES"):
        sstable.Table(data).entries()


def test_out_of_memory_while_reading_entries_is_a_limit_error(monkeypatch):
    from savedmodel_io.errors import LimitExceededError

    table = sstable.Table(sstable.build_table(_items(10)), path="x.index")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sstable, "_parse_block", no_memory)
    with pytest.raises(LimitExceededError, match="not enough memory") as info:
        table.entries()
    assert info.value.path == "x.index"
