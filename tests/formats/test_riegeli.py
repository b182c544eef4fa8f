"""Riegeli/records reader and writer: upstream files, round trips, block layout, corruption."""

from __future__ import annotations

import io
import random
import struct
import sys
import warnings
from pathlib import Path

import pytest
from cpb_helpers import SHARED

from savedmodel_io.errors import (
    ChecksumError,
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    NotFoundError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import riegeli
from savedmodel_io.formats.riegeli import RecordReader, RecordWriter, read_records, write_records
from savedmodel_io.hashing import highwayhash as hh
from savedmodel_io.proto import ChunkMetadata, parse_message

UPSTREAM = sorted(SHARED.glob("**/*.cpb")) if SHARED.is_dir() else []
needs_shared = pytest.mark.skipif(not UPSTREAM, reason="shared/testdata/cpb not present")

# The first 64 bytes of every Riegeli file (riegeli doc/riegeli_records_file_format.md).
SIGNATURE = bytes.fromhex(
    "83af70d10d884a3f" "0000000000000000" "4000000000000000"
    "91bac23c9287e1a9" "0000000000000000" "e19f13c0e9b1c372"
    "7300000000000000" "0000000000000000"
)


def chunk_header(data_size, data_hash, kind, num_records, decoded):
    body = struct.pack("<QQQQ", data_size, data_hash, kind | (num_records << 8), decoded)
    return struct.pack("<Q", hh.highwayhash64(body)) + body


def write(tmp_path, records, name="f.riegeli", **options):
    path = tmp_path / name
    positions = write_records(path, records, **options)
    return path, positions


@needs_shared
@pytest.mark.parametrize("path", UPSTREAM, ids=lambda p: p.name)
def test_reads_upstream_files(path):
    data = path.read_bytes()
    assert data[:64] == SIGNATURE
    with RecordReader(path) as reader:
        positions = list(reader.positions())
        assert positions[0] == 64  # first record chunk starts right after the signature
        assert positions == list(range(64, 64 + reader.num_records))
        meta = parse_message(ChunkMetadata, reader.read_record(reader.last_position()))
        # The ChunkInfo.offset values are record positions in this file (cpb_format.md §2.7).
        for info in meta.chunks:
            assert len(reader.read_record(info.offset)) == info.size
        assert meta.version.splitter_version == 1


@needs_shared
def test_upstream_multiblock_file_layout():
    """chunked_model: one record chunk over 3 blocks; block headers (0,64) (65472,105936)."""
    path = SHARED / "chunked_saved_model" / "chunked_model" / "saved_model.cpb"
    raw = path.read_bytes()
    assert struct.unpack_from("<QQ", raw, 65536 + 8) == (65472, 105936)
    assert struct.unpack_from("<QQ", raw, 131072 + 8) == (131008, 40400)
    assert [len(r) for r in read_records(path)] == [8192, 180000, 76]


@needs_shared
def test_reads_upstream_with_pure_python_hash(monkeypatch):
    monkeypatch.setattr(hh, "highwayhash64", hh.py_highwayhash64)
    monkeypatch.setattr(hh, "HighwayHash64", hh.PyHighwayHash64)
    path = SHARED / "proto_splitter" / "split-standard.cpb"
    assert len(read_records(path)) == 10


def test_pure_python_writer_matches_accelerated(tmp_path, monkeypatch):
    records = [b"x" * 100, bytes(range(256)) * 300, b""]
    fast, _ = write(tmp_path, records, name="fast", compression="none")
    monkeypatch.setattr(hh, "highwayhash64", hh.py_highwayhash64)
    monkeypatch.setattr(hh, "HighwayHash64", hh.PyHighwayHash64)
    slow, _ = write(tmp_path, records, name="slow", compression="none")
    assert slow.read_bytes() == fast.read_bytes()


@pytest.mark.parametrize("compression", ["brotli", "zstd", "none"])
def test_round_trip(tmp_path, compression):
    rng = random.Random(1)
    records = [rng.randbytes(rng.choice([0, 1, 5, 300, 70000])) for _ in range(40)]
    path, positions = write(tmp_path, records, compression=compression, chunk_size=100000)
    with RecordReader(path) as reader:
        assert list(reader.positions()) == positions
        assert list(reader) == records
        for pos, rec in reversed(list(zip(positions, records))):
            assert reader.read_record(pos) == rec
    assert path.read_bytes()[:64] == SIGNATURE


@pytest.mark.parametrize("compression", ["brotli", "none"])
def test_large_record_own_chunk(tmp_path, compression):
    big = random.Random(2).randbytes(300_000)
    path, positions = write(
        tmp_path, [b"a", big, b"b"], compression=compression, large_record_size=200_000
    )
    # "a" is flushed as its own chunk before the big one; positions stay chunk_begin + index.
    assert positions[0] == 64
    assert read_records(path) == [b"a", big, b"b"]
    with RecordReader(path) as reader:
        assert reader.read_record(positions[1]) == big


def test_random_layouts_round_trip(tmp_path):
    """Chunks that begin or end at every kind of place relative to block headers."""
    rng = random.Random(5)
    for trial in range(25):
        records = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(rng.randrange(1, 80))]
        path, positions = write(
            tmp_path, records, name=f"t{trial}", compression="none",
            chunk_size=rng.randrange(1, 20000),
        )
        assert read_records(path) == records
        with RecordReader(path) as reader:
            assert list(reader.positions()) == positions


def test_chunk_starting_exactly_at_block_boundary(tmp_path):
    # signature (64) + chunk header (40) + 1 + varint(2) + sizes(2) + record = 65536
    size = 65536 - 64 - 40 - 1 - 1 - 3
    record = bytes(size)
    path, positions = write(tmp_path, [record, b"xyz"], compression="none", chunk_size=1)
    assert positions == [64, 65536]
    raw = path.read_bytes()
    assert struct.unpack_from("<QQ", raw, 65536 + 8) == (0, 24 + 40 + 1 + 1 + 1 + 3)
    assert read_records(path) == [record, b"xyz"]


def test_tiny_records_get_padding(tmp_path):
    """A chunk of many empty records still spans num_records positions (padding)."""
    records = [b""] * 200
    path, positions = write(tmp_path, records + [b"end"], compression="none", chunk_size=1000)
    assert positions[:200] == list(range(64, 264))
    assert read_records(path) == records + [b"end"]


def test_writer_options_validated():
    with pytest.raises(InvalidArgumentError, match="compression"):
        RecordWriter(io.BytesIO(), compression="lzma")


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out.riegeli"
    path.write_bytes(b"old")

    def records():
        yield b"one"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_records(path, records())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.riegeli"]


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def sample(tmp_path):
    """A 3-block file: one brotli chunk of 2 records, then an uncompressed 100 kB record."""
    rng = random.Random(9)
    records = [b"first", rng.randbytes(1000), rng.randbytes(100_000)]
    path, _ = write(tmp_path, records, large_record_size=50_000)
    return path, records


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x10
    path.write_bytes(bytes(raw))


def test_missing_file(tmp_path):
    with pytest.raises(NotFoundError):
        RecordReader(tmp_path / "nope")


@pytest.mark.parametrize("content", [b"", b"x" * 10, b"\0" * 64, b"x" * 1000, SIGNATURE[:63]])
def test_not_riegeli(tmp_path, content):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(CorruptFileError):
        RecordReader(path)


@pytest.mark.parametrize(
    "offset, error, match",
    [
        (3, CorruptFileError, "signature"),  # block header at 0
        (64 + 40 + 1, ChecksumError, "data hash"),  # sizes of the compressed stream
        (30, CorruptFileError, "signature"),  # signature chunk header
        (64 + 9, ChecksumError, "chunk header hash"),  # first record chunk header
        (64 + 40 + 10, ChecksumError, "data hash"),  # compressed data
        (65536 + 2, ChecksumError, "block header hash"),
        (65536 + 12, ChecksumError, "block header hash"),
        (-1, ChecksumError, "data hash"),  # last byte
    ],
)
def test_corruption_detected(sample, offset, error, match):
    path, _ = sample
    size = path.stat().st_size
    flip(path, offset % size)
    with pytest.raises(error, match=match) as info, RecordReader(path) as reader:
        list(reader)
    assert str(path) in str(info.value)


def test_verify_hashes_off_skips_data_hash(sample):
    path, records = sample
    flip(path, path.stat().st_size - 1)  # inside the uncompressed big record
    with RecordReader(path, verify_hashes=False) as reader:
        got = list(reader)
    assert got[:2] == records[:2] and got[2] != records[2]


@pytest.mark.parametrize("keep", [1, 63, 64 + 39, 64 + 40 + 5, 65536, 65536 + 10, -1])
def test_truncated(sample, keep):
    path, _ = sample
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])
    with pytest.raises(CorruptFileError), RecordReader(path) as reader:
        list(reader)


def test_trailing_garbage(sample):
    path, _ = sample
    path.write_bytes(path.read_bytes() + b"\0" * 100)
    with pytest.raises(CorruptFileError):
        RecordReader(path)


def hostile_file(tmp_path, header: bytes, data: bytes = b"") -> Path:
    path = tmp_path / "hostile"
    path.write_bytes(SIGNATURE + header + data)
    return path


@pytest.mark.parametrize(
    "fields",
    [
        (1 << 60, 0, riegeli.SIMPLE, 1, 1),  # data size beyond the file
        (5, 0, riegeli.SIMPLE, 1 << 50, 1),  # more records than the file can hold
        (0, 0, riegeli.PADDING, 1 << 40, 0),
    ],
)
def test_hostile_header_sizes(tmp_path, fields):
    path = hostile_file(tmp_path, chunk_header(*fields), b"\0" * 5)
    with pytest.raises(LimitExceededError):
        RecordReader(path)


def test_record_table_bomb(tmp_path):
    """A chunk claiming more records than any real file has: refused before building a table."""
    n = riegeli.MAX_RECORDS_PER_CHUNK + 1
    path = hostile_file(tmp_path, chunk_header(0, 0, riegeli.SIMPLE, n, 0), bytes(n + 100_000))
    with pytest.raises(LimitExceededError, match="records, more than the"):
        RecordReader(path)


def test_hostile_decoded_size_is_not_allocated(tmp_path):
    """Header claims 1 TB of decoded values; brotli stream is tiny: clear error, no allocation."""
    import brotli

    sizes = riegeli._varint(1) + brotli.compress(riegeli._varint(1 << 40))
    values = riegeli._varint(1 << 40) + brotli.compress(b"x")
    data = b"b" + riegeli._varint(len(sizes)) + sizes + values
    header = chunk_header(len(data), hh.highwayhash64(data), riegeli.SIMPLE, 1, 1 << 40)
    path = hostile_file(tmp_path, header, data)
    with RecordReader(path) as reader, pytest.raises(CorruptFileError, match="decompress"):
        reader.read_record(64)


def test_hostile_sizes_size(tmp_path):
    data = b"\0" + riegeli._varint(1 << 40) + b"abc"
    header = chunk_header(len(data), hh.highwayhash64(data), riegeli.SIMPLE, 1, 3)
    path = hostile_file(tmp_path, header, data)
    with RecordReader(path) as reader, pytest.raises(CorruptFileError, match="record sizes"):
        reader.read_record(64)


def test_record_sizes_must_match_decoded_size(tmp_path):
    data = b"\0" + riegeli._varint(1) + riegeli._varint(5) + b"abc"
    header = chunk_header(len(data), hh.highwayhash64(data), riegeli.SIMPLE, 1, 3)
    path = hostile_file(tmp_path, header, data)
    with RecordReader(path) as reader, pytest.raises(CorruptFileError, match="record sizes"):
        reader.read_record(64)


def test_transposed_chunk_refused(tmp_path):
    data = b"\0" * 8
    header = chunk_header(len(data), hh.highwayhash64(data), riegeli.TRANSPOSED, 1, 1)
    path = hostile_file(tmp_path, header, data)
    with pytest.raises(UnsupportedFormatError, match="transposed"):
        RecordReader(path)


def test_unknown_chunk_type(tmp_path):
    data = b"\0" * 8
    header = chunk_header(len(data), hh.highwayhash64(data), ord("q"), 1, 1)
    path = hostile_file(tmp_path, header, data)
    with pytest.raises(CorruptFileError, match="chunk type"):
        RecordReader(path)


def test_bad_position(sample):
    path, _ = sample
    with RecordReader(path) as reader:
        for pos in (0, 63, 66, 10**12):
            with pytest.raises(CorruptFileError, match="no record at position"):
                reader.read_record(pos)


def test_empty_file_has_no_last_record(tmp_path):
    path, _ = write(tmp_path, [])
    with RecordReader(path) as reader:
        assert reader.num_records == 0
        with pytest.raises(CorruptFileError, match="no records"):
            reader.last_position()


def test_missing_brotli(monkeypatch, sample):
    path, _ = sample
    monkeypatch.setitem(sys.modules, "brotli", None)
    with RecordReader(path) as reader:
        with pytest.raises(MissingDependencyError, match=r"savedmodel-io\[cpb\]"):
            reader.read_record(64)
    with pytest.raises(MissingDependencyError, match="brotli"):
        RecordWriter(io.BytesIO())


def test_slow_hash_warning(monkeypatch, sample):
    from savedmodel_io import _accel

    path, _ = sample
    monkeypatch.setattr(hh, "ACCELERATED", False)
    monkeypatch.setattr(_accel, "SLOW_BYTES", 1000)
    monkeypatch.setattr(_accel, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RecordReader(path, verify_hashes=False).close()
    with pytest.warns(riegeli.SlowHashWarning, match="verify_hashes=False"):
        RecordReader(path).close()
    with warnings.catch_warnings():  # once per process
        warnings.simplefilter("error")
        RecordReader(path).close()


@pytest.mark.parametrize("compression", ["brotli", "zstd"])
def test_decoded_chunk_size_has_a_fixed_limit(tmp_path, compression, monkeypatch):
    """A compression bomb (2 MiB of zeros in a few hundred bytes) is refused once it declares
    more than MAX_DECODED_CHUNK_BYTES, before anything is decompressed."""
    pytest.importorskip(compression if compression == "brotli" else "zstandard")
    p, _ = write(tmp_path, [b"\0" * (2 << 20)], compression=compression)
    assert p.stat().st_size < 4096
    assert riegeli.MAX_DECODED_CHUNK_BYTES == 1 << 31  # the number SECURITY.md states
    monkeypatch.setattr(riegeli, "MAX_DECODED_CHUNK_BYTES", 1 << 20)
    with RecordReader(p) as r, pytest.raises(LimitExceededError, match="over the limit of 1048576") as info:
        r.read_record(next(r.positions()))
    assert info.value.path == str(p)
    monkeypatch.setattr(riegeli, "MAX_DECODED_CHUNK_BYTES", 2 << 20)  # a caller may raise it
    assert read_records(p) == [b"\0" * (2 << 20)]


def test_out_of_memory_while_decoding_is_a_limit_error(tmp_path, monkeypatch):
    """A bomb under the limit that still does not fit: LimitExceededError, not MemoryError."""
    p, _ = write(tmp_path, [b"\0" * 1000], compression="brotli")

    def no_memory(self, chunk):
        raise MemoryError

    monkeypatch.setattr(RecordReader, "_decode_simple", no_memory)
    with pytest.raises(LimitExceededError, match="not enough memory") as info:
        read_records(p)
    assert info.value.path == str(p)


class _Recording:
    """A brotli.Decompressor that remembers the size of each piece of output it returns."""

    sizes: list[int] = []

    def __init__(self, real) -> None:
        self._d = real()

    def process(self, data, **kw):
        out = self._d.process(data, **kw)
        _Recording.sizes.append(len(out))
        return out

    def __getattr__(self, name):
        return getattr(self._d, name)


@pytest.mark.parametrize("compression", ["brotli", "zstd"])
def test_bomb_under_the_ratio_cap_is_decoded_in_bounded_steps(tmp_path, monkeypatch, compression):
    """A chunk declaring 100 bytes whose stream holds gigabytes of zeros stops at the declared
    size: each step returns a bounded piece (Brotli used to return all 2-3 GB at once)."""
    from hostile.bombs import brotli_zeros, riegeli_chunk

    if compression == "brotli":
        brotli = pytest.importorskip("brotli")
        stream, kind = brotli_zeros(2), b"b"  # 640 MiB of zeros
        monkeypatch.setattr(brotli, "Decompressor", lambda real=brotli.Decompressor: _Recording(real))
    else:
        zstandard = pytest.importorskip("zstandard")
        stream, kind = zstandard.ZstdCompressor().compress(bytes(64 << 20)), b"z"
    p = tmp_path / "bomb.riegeli"
    p.write_bytes(riegeli_chunk(stream, 100, kind))
    assert p.stat().st_size < 8192
    _Recording.sizes = []
    with pytest.raises(CorruptFileError, match="more than the declared 100 bytes"):
        read_records(p)
    if compression == "brotli":
        assert 0 < max(_Recording.sizes) <= 2 * riegeli._OUTPUT_STEP + (1 << 16)
        assert sum(_Recording.sizes) <= 2 * riegeli._OUTPUT_STEP + (1 << 16)


def test_brotli_without_bounded_output_is_refused(tmp_path, monkeypatch):
    """brotli before 1.2 cannot bound a step's output: such a reader would be a bomb target."""
    brotli = pytest.importorskip("brotli")
    p, _ = write(tmp_path, [b"abc"], compression="brotli")

    class Old:
        error = brotli.error

        class Decompressor:
            def process(self, data):
                return b""

    monkeypatch.setitem(sys.modules, "brotli", Old)
    with pytest.raises(MissingDependencyError, match=r"brotli >= 1\.2"):
        read_records(p)


def test_brotli_output_held_back_is_drained(tmp_path):
    """Brotli may keep output while accepting input; the reader drains it (exact round trip)."""
    pytest.importorskip("brotli")
    records = [b"\0" * (48 << 20)]  # with Riegeli's Brotli settings: output held at the end
    p, _ = write(tmp_path, records, compression="brotli", compress_large_records=True)
    assert read_records(p) == records
